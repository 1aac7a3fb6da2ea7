"""Everything a worker publishes: alerts, dead letters and state snapshots.

Delivery is tracked per message. :meth:`Outputs.flush` returns only when every
message produced so far has been acknowledged by the broker (failed ones are sent
again), which is what makes it safe to checkpoint state afterwards: an alert
included in a snapshot has been delivered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from confluent_kafka import KafkaError, Message

from .. import cloudevents
from ..config import Settings
from ..core import Rejection
from .common import base_config, new_producer

__all__ = ["Outputs", "dead_letter_headers"]

_log = logging.getLogger("streamproc.outputs")

# Snapshot records can be large; see topics.STATE_MAX_MESSAGE_BYTES.
_MAX_MESSAGE_BYTES = 64 * 1024 * 1024 + 65536


def dead_letter_headers(
    rejection: Rejection, topic: str, partition: int, offset: int, timestamp_ms: int | None
) -> list[tuple[str, bytes]]:
    """Headers of a dead letter; key and value stay the original bytes."""
    headers = [
        ("streamproc.reason", rejection.reason.encode()),
        ("streamproc.detail", rejection.detail.encode()),
        ("streamproc.source.topic", topic.encode()),
        ("streamproc.source.partition", str(partition).encode()),
        ("streamproc.source.offset", str(offset).encode()),
    ]
    if timestamp_ms is not None:
        headers.append(("streamproc.source.timestamp_ms", str(timestamp_ms).encode()))
    return headers


class Outputs:
    """One producer for alerts, dead letters and snapshots, with delivery tracking."""

    def __init__(self, settings: Settings, on_failure: Callable[[str, str], None] | None = None):
        self.settings = settings
        config = base_config(
            settings.broker, f"streamproc-worker-{settings.group_id}",
            settings.kafka_properties(),
            {
                "acks": "all",
                "linger.ms": 5,
                "compression.type": "lz4",
                "message.max.bytes": _MAX_MESSAGE_BYTES,
                # Keep retrying through broker outages; flush() reports what is still pending.
                "message.timeout.ms": 0,
            },
        )
        self._producer = new_producer(config)
        self._on_failure = on_failure
        self._in_flight = 0
        self._retry: list[tuple[str, bytes | None, bytes, list[tuple[str, bytes]] | None, int]] = []
        self.delivered = 0

    # -- producing ---------------------------------------------------------------------
    def _produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int = -1,
    ) -> None:
        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            self._in_flight -= 1
            if err is None:
                self.delivered += 1
                return
            _log.warning("delivery to %s failed (%s); will send again", topic, err.str())
            if self._on_failure:
                self._on_failure(topic, err.name())
            self._retry.append((topic, key, value, headers, partition))

        kwargs: dict[str, Any] = {"key": key, "value": value, "on_delivery": on_delivery}
        if headers:
            kwargs["headers"] = headers
        if partition >= 0:
            kwargs["partition"] = partition
        while True:
            try:
                self._producer.produce(topic, **kwargs)
                break
            except BufferError:
                # Local queue full (broker slow or down): wait for deliveries, then retry.
                self._producer.poll(0.1)
        self._in_flight += 1
        self._producer.poll(0)

    def alert(self, alert: dict[str, Any]) -> None:
        """The alert JSON as value, CloudEvents binary-mode headers (``ce_*``) beside it."""
        self._produce(
            self.settings.alerts_topic,
            alert["model_id"].encode(),
            orjson.dumps(alert),
            cloudevents.kafka_headers(alert, self.settings.group_id),
        )

    def dead_letter(
        self,
        key: bytes | None,
        value: bytes | None,
        rejection: Rejection,
        topic: str,
        partition: int,
        offset: int,
        timestamp_ms: int | None,
    ) -> None:
        self._produce(
            self.settings.dead_letter_topic,
            key,
            value or b"",
            dead_letter_headers(rejection, topic, partition, offset, timestamp_ms),
        )

    def snapshot(self, partition: int, key: bytes, blob: bytes, offsets: dict[str, int]) -> None:
        self._produce(
            self.settings.state_topic,
            key,
            blob,
            [("streamproc.offsets", orjson.dumps(offsets))],
            partition,
        )

    def poll(self) -> None:
        self._producer.poll(0)

    # -- delivery ------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        return self._in_flight + len(self._retry)

    def flush(self, timeout: float) -> bool:
        """Wait until every message so far is delivered (resending failures); True if so."""
        deadline = time.monotonic() + timeout
        while True:
            retry, self._retry = self._retry, []
            for topic, key, value, headers, partition in retry:
                self._produce(topic, key, value, headers, partition)
            remaining = deadline - time.monotonic()
            self._producer.flush(max(remaining, 0.0))
            if not self._retry and self._in_flight == 0:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
