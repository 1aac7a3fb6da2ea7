"""Webhooks: every drift alert POSTed as a CloudEvent to the URLs an operator configured.

``settings`` declares a webhook (``alert_webhooks`` in the worker's settings),
``delivery`` makes one HTTP attempt and says whether to retry, ``metrics`` counts what
happened; the Kafka side (a relay per webhook reading the alerts topic, committing an
alert only once the webhook acknowledged it) is :mod:`streamproc.kafka.webhook_relay`.
"""

from __future__ import annotations

__all__: list[str] = []
