"""The worker's HTTP endpoint: /metrics, /livez and /readyz."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from .errors import ConfigError

__all__ = ["Health", "HttpEndpoint"]

# The main loop beats at least every poll timeout; this much silence means it is stuck.
LIVENESS_TIMEOUT_SECONDS = 60.0


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


class HttpEndpoint:
    """Serve metrics and health checks on a background thread."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry, health: Health) -> None:
        routes: dict[str, Callable[[str], tuple[int, str, bytes]]] = {
            "/metrics": lambda query: _metrics(registry, query),
            "/livez": lambda _: _check(health.live()),
            "/readyz": lambda _: _check(health.ready()),
            "/": lambda _: (200, "text/plain; charset=utf-8",
                            b"streamproc worker: /metrics /livez /readyz\n"),
        }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's API
                path, _, query = self.path.partition("?")
                route = routes.get(path)
                status, ctype, body = route(query) if route else (404, "text/plain",
                                                                  b"not found\n")
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:  # scrapes every 15 s: no access log
                pass

        try:
            self._server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise ConfigError(
                f"cannot serve metrics on {host}:{port} ({exc.strerror}); choose another "
                "port with --metrics-port"
            ) from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="streamproc-http")

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = self._server.server_address[0]
        return f"http://{host}:{self.port}/metrics"

    def start(self) -> None:
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
