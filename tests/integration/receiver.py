"""A real local HTTP receiver for webhook tests (stdlib http.server in a thread)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import orjson

# (event id, how many requests for that id came before) -> HTTP status to answer,
# optionally with response headers
Plan = Callable[[str, int], "int | tuple[int, dict[str, str]]"]


class Receiver:
    """Record every POST; answer with ``plan``'s status (200 by default)."""

    def __init__(self, port: int = 0, plan: Plan | None = None) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        plan = plan or (lambda _id, _n: 200)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's API
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                event_id = _id_of(body)
                with owner._lock:
                    before = sum(1 for _h, b in owner.requests if _id_of(b) == event_id)
                    owner.requests.append((dict(self.headers.items()), body))
                answer = plan(event_id, before)
                status, headers = answer if isinstance(answer, tuple) else (answer, {})
                self.send_response(status)
                for name, value in {"Content-Length": "0", **headers}.items():
                    self.send_header(name, value)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/alerts"

    def events(self) -> list[dict]:
        with self._lock:
            return [orjson.loads(body) for _headers, body in self.requests]

    def ids(self) -> set[str]:
        return {e["id"] for e in self.events()}

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()


def _id_of(body: bytes) -> str:
    try:
        return str(orjson.loads(body).get("id"))
    except orjson.JSONDecodeError:
        return ""
