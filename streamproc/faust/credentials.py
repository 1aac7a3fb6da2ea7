"""The ``kafka`` setting as a Faust app's ``broker_credentials`` (aiokafka's TLS and SASL).

The Faust engine has two kinds of clients: the app's own consumer and producer
(aiokafka, configured by Faust) and streamproc's librdkafka clients (outputs, state,
start offsets), which take the ``kafka`` properties as they are. For the app's
clients the security properties are translated:

- ``security.protocol`` SSL: ``faust.SSLCredentials`` with an ``ssl.SSLContext`` from
  ``ssl.ca.location`` (file or directory) or ``ssl.ca.pem``, ``ssl.certificate.location``
  + ``ssl.key.location`` (+ ``ssl.key.password``), ``ssl.endpoint.identification.algorithm``
  and ``enable.ssl.certificate.verification``;
- SASL_PLAINTEXT / SASL_SSL with ``sasl.mechanism`` PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512:
  ``faust.SASLCredentials`` (username, password, the same context for SASL_SSL).

What cannot be translated is refused in one sentence (OAUTHBEARER: aiokafka wants a
token-provider object, not properties; GSSAPI; keystores and in-memory keys): the
default engine takes them all. Other (tuning) properties reach only streamproc's
librdkafka clients; :func:`broker_credentials` names them in one log line.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Mapping

import faust
from faust.types.auth import CredentialsT

from ..errors import ConfigError

__all__ = ["broker_credentials"]

_log = logging.getLogger("streamproc.faust")

_TRANSLATED = frozenset({
    "security.protocol", "ssl.ca.location", "ssl.ca.pem", "ssl.certificate.location",
    "ssl.key.location", "ssl.key.password", "ssl.endpoint.identification.algorithm",
    "enable.ssl.certificate.verification", "sasl.mechanism", "sasl.mechanisms",
    "sasl.username", "sasl.password",
})
_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
_DEFAULT_ENGINE = "use the default engine (--engine librdkafka), which takes every property"


def _refuse(what: str) -> ConfigError:
    return ConfigError(f"{what} cannot be given to the Faust engine's aiokafka clients; "
                       f"{_DEFAULT_ENGINE}")


def _context(kafka: Mapping[str, str]) -> ssl.SSLContext:
    ca = kafka.get("ssl.ca.location")
    try:
        if ca and ca != "probe":
            is_dir = os.path.isdir(ca)
            ctx = ssl.create_default_context(cafile=None if is_dir else ca,
                                             capath=ca if is_dir else None)
        else:
            ctx = ssl.create_default_context(cadata=kafka.get("ssl.ca.pem") or None)
        cert, key = kafka.get("ssl.certificate.location"), kafka.get("ssl.key.location")
        if cert or key:
            ctx.load_cert_chain(cert or key or "", key, kafka.get("ssl.key.password"))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"the Faust engine cannot load the kafka.ssl.* files ({exc}); "
                          "check kafka.ssl.ca.location, ssl.certificate.location, "
                          "ssl.key.location and ssl.key.password") from None
    if kafka.get("ssl.endpoint.identification.algorithm", "https").lower() == "none":
        ctx.check_hostname = False
    if kafka.get("enable.ssl.certificate.verification", "true").lower() in ("false", "0"):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def broker_credentials(kafka: Mapping[str, str]) -> CredentialsT | None:
    """Faust credentials equivalent to the ``kafka`` properties (None: PLAINTEXT).

    Raises ConfigError for a property that aiokafka cannot be given.
    """
    untranslated = sorted(set(kafka) - _TRANSLATED)
    security = [n for n in untranslated if n.startswith(("ssl.", "sasl."))]
    if security:
        raise _refuse(f"kafka.{security[0]}")
    if untranslated:
        _log.info("kafka properties %s apply to streamproc's own clients only, not to the "
                  "Faust app's consumer and producer", ", ".join(untranslated))
    protocol = kafka.get("security.protocol", "plaintext").upper()
    if protocol == "PLAINTEXT":
        return None
    context = _context(kafka) if protocol in ("SSL", "SASL_SSL") else None
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    mechanism = kafka.get("sasl.mechanism", kafka.get("sasl.mechanisms", "GSSAPI")).upper()
    if mechanism not in _MECHANISMS:
        raise _refuse(f"kafka.sasl.mechanism {mechanism}")
    return faust.SASLCredentials(username=kafka.get("sasl.username"),
                                 password=kafka.get("sasl.password"),
                                 ssl_context=context, mechanism=mechanism)
