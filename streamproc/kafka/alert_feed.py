"""Read the alerts topic as a subscriber: every partition, no consumer group, no commits.

Without a group there is no join delay and nothing to clean up: a reader starts at
once, from the beginning or from a point in time, and leaves no trace on the broker.

Where "the end" is (for a reader that prints what is there and exits) is the
partition's high watermark when reading starts; the embedded Tansu broker answers that
request with the last batch's base offset + 1, so the first watermark seen in a fetch
response (which Tansu gets right) raises it. A point in time is looked up with
``offsets_for_times`` and, because Tansu answers that with the log start, applied to
each message's timestamp as well.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping

from confluent_kafka import (
    OFFSET_BEGINNING,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from ..errors import BrokerError
from .common import check_reachable, consumer_config, new_consumer

__all__ = ["AlertFeed"]

_log = logging.getLogger("streamproc.alert_feed")

POLL_TIMEOUT_SECONDS = 0.2  # how quickly Ctrl-C ends a --follow


class AlertFeed:
    """The messages of ``topic``, oldest first per partition."""

    def __init__(self, bootstrap: str, topic: str, timeout: float = 15.0,
                 kafka: Mapping[str, str] | None = None) -> None:
        check_reachable(bootstrap, timeout, kafka)
        self.topic = topic
        self.timeout = timeout
        # librdkafka wants a group id even for assign(); nothing is ever committed to it.
        config = consumer_config(bootstrap, "streamproc-alerts", kafka,
                                 {"group.id": "streamproc-alerts-reader",
                                  "enable.auto.commit": False})
        self._consumer = new_consumer(config)
        meta = self._consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if meta is None or meta.error is not None or not meta.partitions:
            self._consumer.close()
            raise BrokerError(
                f"the broker at {bootstrap} has no topic {topic}; a worker creates it when it "
                "starts (or set alerts_topic to the topic your workers publish to)"
            )
        self.partitions = sorted(meta.partitions)
        self._since_ms: int | None = None
        self._next: dict[int, int] = {}
        self._end: dict[int, int] = {}
        self._end_checked: set[int] = set()

    def start(self, since_ms: int | None = None) -> None:
        """Assign every partition from its first message, or the first at/after ``since_ms``."""
        try:
            self._assign(since_ms)
        except KafkaException as exc:
            raise BrokerError(
                f"cannot read the offsets of topic {self.topic}: {exc.args[0].str()}"
            ) from None

    def _assign(self, since_ms: int | None) -> None:
        self._since_ms = since_ms
        c, t = self._consumer, self.timeout
        watermarks = {p: c.get_watermark_offsets(TopicPartition(self.topic, p), timeout=t)
                      for p in self.partitions}
        starts = {p: low for p, (low, _high) in watermarks.items()}
        if since_ms is not None:
            wanted = [TopicPartition(self.topic, p, since_ms) for p in self.partitions]
            for tp in c.offsets_for_times(wanted, timeout=t):
                # -1: no message that recent, so the partition starts at its end.
                starts[tp.partition] = tp.offset if tp.offset >= 0 else watermarks[tp.partition][1]
        self._next = {p: max(starts[p], watermarks[p][0]) for p in self.partitions}
        self._end = {p: high for p, (_low, high) in watermarks.items()}
        c.assign([TopicPartition(self.topic, p, self._next[p] if self._next[p] >= 0
                                 else OFFSET_BEGINNING) for p in self.partitions])

    def _at_end(self) -> bool:
        return all(self._next[p] >= self._end[p] for p in self.partitions)

    def _raise_ends(self) -> None:
        for p in set(self.partitions) - self._end_checked:
            _low, high = self._consumer.get_watermark_offsets(
                TopicPartition(self.topic, p), cached=True
            )
            if high >= 0:  # the first fetch response of p has arrived
                self._end[p] = max(self._end[p], high)
                self._end_checked.add(p)

    def messages(self, follow: bool, stop: threading.Event) -> Iterator[Message]:
        """Messages until the end seen at start (or, with ``follow``, until ``stop``)."""
        while not stop.is_set() and (follow or not self._at_end()):
            for m in self._consumer.consume(500, POLL_TIMEOUT_SECONDS):
                err = m.error()
                if err is not None:
                    if err.code() != KafkaError._PARTITION_EOF:
                        _log.warning("reading %s: %s", self.topic, err.str())
                    continue
                self._next[m.partition()] = m.offset() + 1
                _ts_type, ts = m.timestamp()
                if self._since_ms is not None and 0 <= ts < self._since_ms:
                    continue
                yield m
            self._raise_ends()

    def close(self) -> None:
        self._consumer.close()
