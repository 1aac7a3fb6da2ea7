"""One HTTP attempt to hand an alert to a webhook, and what to do after it.

The stdlib client (``urllib.request``) is enough: one small POST per alert, at alert
rates, from a thread of its own; it honours the usual ``https_proxy``/``no_proxy``
variables and verifies TLS certificates with the system's trust store. Redirects are
not followed: urllib would turn a redirected POST into a GET without the event and
report success, so a 3xx is a failure to fix in the URL.

Outcomes of an attempt:

- 2xx: **delivered**;
- 400, 413, 415, 422: **rejected** -- the receiver refuses this event itself (its
  content or size), and sending the same bytes again cannot succeed. Counted and
  logged; the alert stays on the alerts topic;
- anything else (5xx, 408, 429, 401, 403, 404, 3xx, refused connections, timeouts):
  **retry**, after :func:`backoff` (doubling from ``retry_initial_seconds`` up to
  ``retry_max_seconds``; a ``Retry-After`` in seconds lengthens it up to that cap).
  Authentication and URL errors are retried too: the operator fixes them, restarts,
  and the waiting alerts are delivered then instead of being lost.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Literal

from .. import __version__
from ..cloudevents import STRUCTURED_CONTENT_TYPE
from .settings import Webhook

__all__ = ["Attempt", "backoff", "post"]

REJECTED_STATUSES = frozenset({400, 413, 415, 422})


@dataclass(frozen=True)
class Attempt:
    """What one POST achieved: ``result`` is the status class (``2xx``...) or ``error``."""

    outcome: Literal["delivered", "retry", "rejected"]
    result: str
    detail: str
    retry_after: float | None = None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # urllib then raises HTTPError with the 3xx status


_OPENER = urllib.request.build_opener(_NoRedirects)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None  # an HTTP date: the doubling wait applies


def post(hook: Webhook, body: bytes) -> Attempt:
    """POST a structured-mode CloudEvent to ``hook`` once."""
    headers = {
        "Content-Type": STRUCTURED_CONTENT_TYPE,
        "User-Agent": f"streamproc/{__version__}",
        **hook.headers,
    }
    request = urllib.request.Request(hook.url, data=body, headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=hook.timeout_seconds) as response:
            response.read()
            return Attempt("delivered", f"{response.status // 100}xx", f"HTTP {response.status}")
    except urllib.error.HTTPError as exc:
        status = exc.code
        outcome = "rejected" if status in REJECTED_STATUSES else "retry"
        wait = _retry_after(exc.headers.get("Retry-After")) if exc.headers else None
        exc.close()
        return Attempt(outcome, f"{status // 100}xx", f"HTTP {status} {exc.reason}", wait)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Attempt("retry", "error", f"{type(exc).__name__}: {reason}")


def backoff(hook: Webhook, failures: int, retry_after: float | None = None) -> float:
    """Seconds to wait after the ``failures``-th failed attempt in a row.

    >>> from streamproc.webhooks.settings import Webhook
    >>> hook = Webhook("h", "http://h/", 5.0, 0.5, 4.0)
    >>> [backoff(hook, n) for n in range(1, 6)], backoff(hook, 1, retry_after=3.0)
    ([0.5, 1.0, 2.0, 4.0, 4.0], 3.0)
    """
    wait = min(hook.retry_initial_seconds * 2.0 ** (failures - 1), hook.retry_max_seconds)
    if retry_after is not None:
        wait = max(wait, min(retry_after, hook.retry_max_seconds))
    return wait
