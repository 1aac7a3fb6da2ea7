"""The worker's HTTP endpoint: /metrics, /livez and /readyz.

Both engines serve it. With ``metrics_web_config`` (a Prometheus web configuration
file, :mod:`streamproc.webconfig`) it speaks TLS and asks for basic auth on every path,
as exporters built on the exporter-toolkit do; without it, plain HTTP.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from .errors import ConfigError
from .webconfig import AccessPolicy

__all__ = ["Health", "HttpEndpoint"]

_log = logging.getLogger("streamproc.http")

# The main loop beats at least every poll timeout; this much silence means it is stuck.
LIVENESS_TIMEOUT_SECONDS = 60.0
# A client that sends nothing for this long is disconnected: it cannot pin a thread
# (a TLS handshake, a request line or headers that never finish).
CLIENT_TIMEOUT_SECONDS = 30.0
_STATUS_TEXT = {401: b"Unauthorized\n", 429: b"Too Many Requests\n",
                500: b"Internal Server Error\n"}


class Health:
    """Liveness (the main loop beats) and readiness (state restored, partitions owned)."""

    def __init__(self) -> None:
        self._beat = time.monotonic()
        self._ready = False
        self._reason = "starting: waiting for partition assignment"

    def beat(self) -> None:
        self._beat = time.monotonic()

    def set_ready(self, ready: bool, reason: str = "") -> None:
        self._ready, self._reason = ready, reason

    def live(self) -> tuple[bool, str]:
        silent = time.monotonic() - self._beat
        if silent > LIVENESS_TIMEOUT_SECONDS:
            return False, f"main loop silent for {silent:.0f}s"
        return True, "ok"

    def ready(self) -> tuple[bool, str]:
        return (True, "ok") if self._ready else (False, self._reason)


class _Server(ThreadingHTTPServer):
    """A threading HTTP server whose connections may be TLS (handshake in their own thread)."""

    daemon_threads = True
    policy: AccessPolicy | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        policy = self.policy
        if policy is None or not policy.tls:
            super().finish_request(request, client_address)
            return
        # Here, not in accept(): a slow or silent client must not hold up the others.
        request.settimeout(CLIENT_TIMEOUT_SECONDS)
        context = policy.context()
        if context is None:  # the web config turned invalid: refuse until fixed
            return
        try:
            conn = context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            _log.debug("TLS handshake with %s failed: %s", client_address[0], exc)
            return
        try:
            if policy.peer_allowed(conn.getpeercert()):
                super().finish_request(conn, client_address)
            else:
                _log.debug("client certificate of %s has none of client_allowed_sans",
                           client_address[0])
        finally:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_WR)
            conn.close()


class HttpEndpoint:
    """Serve metrics and health checks on a background thread.

    ``web_config``: path of a Prometheus web configuration file (TLS, basic auth);
    ConfigError with one sentence if it is invalid.
    """

    def __init__(self, host: str, port: int, registry: CollectorRegistry, health: Health,
                 web_config: str | Path | None = None) -> None:
        policy = AccessPolicy(web_config) if web_config is not None else None
        self.policy = policy
        routes: dict[str, Callable[[str], tuple[int, str, bytes]]] = {
            "/metrics": lambda query: _metrics(registry, query),
            "/livez": lambda _: _check(health.live()),
            "/readyz": lambda _: _check(health.ready()),
            "/": lambda _: (200, "text/plain; charset=utf-8",
                            b"streamproc worker: /metrics /livez /readyz\n"),
        }

        class Handler(BaseHTTPRequestHandler):
            timeout = CLIENT_TIMEOUT_SECONDS

            def do_GET(self) -> None:  # noqa: N802 - http.server's API
                headers: tuple[tuple[str, str], ...] = ()
                if policy is not None:  # every path, as exporter-toolkit protects them
                    verdict = policy.admit(self.headers.get("Authorization"))
                    headers = verdict.headers
                    if verdict.status is not None:
                        self._send(verdict.status, "text/plain; charset=utf-8",
                                   _STATUS_TEXT[verdict.status], headers)
                        return
                path, _, query = self.path.partition("?")
                route = routes.get(path)
                status, ctype, body = route(query) if route else (404, "text/plain",
                                                                  b"not found\n")
                self._send(status, ctype, body, headers)

            def _send(self, status: int, ctype: str, body: bytes,
                      headers: tuple[tuple[str, str], ...]) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:  # scrapes every 15 s: no access log
                pass

        try:
            self._server = _Server((host, port), Handler)
        except OSError as exc:
            raise ConfigError(
                f"cannot serve metrics on {host}:{port} ({exc.strerror}); choose another "
                "port with --metrics-port"
            ) from None
        self._server.policy = policy
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="streamproc-http")

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = self._server.server_address[0]
        scheme = "https" if self.policy is not None and self.policy.tls else "http"
        return f"{scheme}://{host}:{self.port}/metrics"

    def start(self) -> None:
        if self.policy is not None:
            config = self.policy.config
            _log.info("web config %s: %s", config.path, config.summary())
            if config.users and config.tls is None:
                _log.warning("web config %s asks for basic auth without TLS: passwords cross "
                             "the network in clear text; add tls_server_config", config.path)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _metrics(registry: CollectorRegistry, query: str) -> tuple[int, str, bytes]:
    """The exposition; ``?name[]=a&name[]=b`` restricts it to those series (sample names,
    as prometheus_client's own handler and Prometheus federation take them), which is
    cheap to render however many models the worker monitors."""
    names = parse_qs(query).get("name[]")
    target = registry.restricted_registry(names) if names else registry
    return 200, CONTENT_TYPE_LATEST, generate_latest(target)  # type: ignore[arg-type]


def _check(result: tuple[bool, str]) -> tuple[int, str, bytes]:
    ok, reason = result
    return (200 if ok else 503), "text/plain; charset=utf-8", (reason + "\n").encode()
