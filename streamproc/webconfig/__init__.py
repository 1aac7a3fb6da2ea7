"""TLS and basic auth on the worker's HTTP endpoint, from a Prometheus web configuration file.

The exporter-toolkit's file (what node_exporter's ``--web.config.file`` reads) is the
Prometheus ecosystem's one convention for protecting an exporter; ``metrics_web_config``
(``STREAMPROC_METRICS_WEB_CONFIG``) names such a file and both engines read it.

- :mod:`.config` parses and validates the file: unknown keys, missing files, bad hashes
  and unsupported values are one sentence naming the file, the key and the fix.
- :mod:`.tls` turns ``tls_server_config`` into an :class:`ssl.SSLContext` (and says
  where Python's ``ssl`` cannot do what Go's ``crypto/tls`` does).
- :mod:`.access` decides each request: rate limit, response headers, bcrypt-checked
  basic auth with a cache of checks, the client certificate's SANs, and re-reading
  the file when it (or a certificate it names) changes, as the toolkit does.
"""

from __future__ import annotations

from .access import AccessPolicy, check_web_config
from .config import TlsServerConfig, WebConfig, read_web_config

__all__ = ["AccessPolicy", "TlsServerConfig", "WebConfig", "check_web_config",
           "read_web_config"]
