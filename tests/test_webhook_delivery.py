"""One webhook attempt against a real local HTTP server: what each answer leads to."""

from __future__ import annotations

import orjson
import pytest

from streamproc.broker import free_port
from streamproc.webhooks.delivery import Attempt, post
from streamproc.webhooks.settings import Webhook

from .integration.receiver import Receiver

ANSWERS = {
    "ok": 204,
    "bad": 400,
    "busy": (503, {"Retry-After": "7"}),
    "moved": (302, {"Location": "http://127.0.0.1:1/elsewhere"}),
    "auth": 401,
    "slow-down": (429, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
}


def _hook(url: str) -> Webhook:
    return Webhook("h", url, 2.0, 1.0, 60.0, {"X-Token": "s3cret"})


@pytest.mark.parametrize(("event_id", "expected"), [
    ("ok", Attempt("delivered", "2xx", "HTTP 204")),
    ("bad", Attempt("rejected", "4xx", "HTTP 400 Bad Request")),
    ("busy", Attempt("retry", "5xx", "HTTP 503 Service Unavailable", 7.0)),
    ("moved", Attempt("retry", "3xx", "HTTP 302 Found")),
    ("auth", Attempt("retry", "4xx", "HTTP 401 Unauthorized")),
    ("slow-down", Attempt("retry", "4xx", "HTTP 429 Too Many Requests")),
])
def test_answers_map_to_outcomes(event_id: str, expected: Attempt) -> None:
    with Receiver(plan=lambda i, _n: ANSWERS[i]) as receiver:
        assert post(_hook(receiver.url), orjson.dumps({"id": event_id})) == expected
        ((headers, body),) = receiver.requests  # one request: redirects are not followed
    assert headers["X-Token"] == "s3cret"
    assert headers["Content-Type"] == "application/cloudevents+json; charset=utf-8"
    assert body == orjson.dumps({"id": event_id})


def test_no_server_is_a_retry() -> None:
    attempt = post(_hook(f"http://127.0.0.1:{free_port()}/"), b"{}")
    assert (attempt.outcome, attempt.result) == ("retry", "error")
    assert "Connection refused" in attempt.detail
