"""Metrics of webhook delivery, labelled by webhook name (a value the operator chose)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["WebhookMetrics"]


class WebhookMetrics:
    """Counters and gauges of every webhook relay of a worker."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter(
            "streamproc_webhook_deliveries",
            "Alerts a webhook is done with: delivered (2xx), rejected (400/413/415/422: the "
            "receiver refuses the event itself) or invalid (not a drift alert: not sent)",
            ["webhook", "outcome"], registry=registry,
        )
        self.attempts = Counter(
            "streamproc_webhook_attempts",
            "HTTP attempts by result: the status class (2xx, 3xx, 4xx, 5xx) or error "
            "(no answer: refused, reset, timed out)",
            ["webhook", "result"], registry=registry,
        )
        self.retries = Counter(
            "streamproc_webhook_retries", "Failed attempts that will be retried after a backoff",
            ["webhook"], registry=registry,
        )
        self.backlog = Gauge(
            "streamproc_webhook_backlog_alerts",
            "Alerts on this worker's share of the alerts topic not yet done with by the webhook",
            ["webhook"], registry=registry,
        )
        self.oldest_age = Gauge(
            "streamproc_webhook_oldest_pending_age_seconds",
            "Age (since it was published) of the alert the webhook is being sent, 0 when idle",
            ["webhook"], registry=registry,
        )

    def prepare(self, webhook: str) -> None:
        """Export zeros for a webhook before its first alert (rate() needs a start)."""
        for outcome in ("delivered", "rejected", "invalid"):
            self.deliveries.labels(webhook, outcome)
        self.retries.labels(webhook)
        self.backlog.labels(webhook).set(0)
        self.oldest_age.labels(webhook).set(0)
