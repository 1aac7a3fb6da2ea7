"""Consumer lag: how many messages of each assigned partition the consumer has yet to read.

Lag is the partition's high watermark minus the consumer's position (the offset of the
next message it will hand to the application), computed without a broker round trip so
that the worker's loop can do it every second:

- the high watermark is librdkafka's cached one (``get_watermark_offsets(cached=True)``):
  the value in the partition's last fetch response. A consumer fetches continuously,
  so it is at most a fetch wait old (``fetch_wait_max_ms``, 50 ms by default); it is
  unknown until the first fetch response, and frozen while a partition is paused (no
  fetches), so paused partitions are not reported (the worker counts them in
  ``streamproc_partitions_failed``);
- the position is local; before the first message since assignment it is unknown, and
  the consumer group's committed offset (where the consumer starts) stands in for it,
  looked up asynchronously by an admin client (or the low watermark when nothing was
  committed: the consumers start from the earliest offset).

Uncached watermarks (a ListOffsets request) are deliberately not used: besides the
round trip, the embedded Tansu broker answers them with the last batch's base offset + 1,
not the end of the log.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping
from concurrent.futures import CancelledError, Future

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaException,
    TopicPartition,
)
from prometheus_client import Gauge

from .common import admin

__all__ = ["ConsumerLag", "partition_lags"]

_log = logging.getLogger("streamproc.lag")

Key = tuple[str, int]


def partition_lags(consumer: Consumer, start: Mapping[Key, int],
                   exclude: Iterable[int] = ()) -> dict[Key, int]:
    """Lag of every assigned partition whose lag is known (see the module docstring).

    ``start`` maps a partition to where consumption starts when nothing was consumed yet
    (a committed offset, or a negative value for "none": the low watermark);
    ``exclude`` names partition numbers to leave out (paused ones).
    """
    skipped = set(exclude)
    assignment = [tp for tp in consumer.assignment() if tp.partition not in skipped]
    if not assignment:
        return {}
    lags: dict[Key, int] = {}
    for tp in consumer.position(assignment):
        key = (tp.topic, tp.partition)
        low, high = consumer.get_watermark_offsets(
            TopicPartition(tp.topic, tp.partition), cached=True
        )
        if high < 0:
            continue  # no fetch response yet
        position = tp.offset
        if position < 0:
            committed = start.get(key)
            if committed is None:
                continue
            position = committed if committed >= 0 else low
        lags[key] = max(high - position, 0)
    return lags


class _Answers:
    """Committed offsets as the admin client reports them (written on its thread).

    Kept apart from :class:`ConsumerLag` on purpose: a request's callback holds this and
    nothing that owns the admin client. If the callback held the client, the last
    reference to it could be dropped on librdkafka's own background thread, where
    ``rd_kafka_destroy`` aborts the process ("called from librdkafka owned thread";
    confluent-kafka-python PR #2131 describes the same abort).
    """

    def __init__(self) -> None:
        self.committed: dict[Key, int] = {}
        self.asking: set[Key] = set()
        self.pending: set[Future] = set()


class ConsumerLag:
    """Keep a ``{topic, partition}`` gauge equal to a group consumer's lag."""

    def __init__(self, bootstrap: str, group_id: str, gauge: Gauge,
                 kafka: Mapping[str, str] | None = None) -> None:
        self.group_id = group_id
        self.gauge = gauge
        self._admin = admin(bootstrap, kafka)
        self._answers = _Answers()
        self._exported: set[Key] = set()

    def refresh(self, consumer: Consumer, exclude: Iterable[int] = ()) -> dict[Key, int]:
        """Update the gauge from ``consumer`` (never waits for the broker); return the lags."""
        answers = self._answers
        lags = partition_lags(consumer, answers.committed, exclude)
        assigned = {(tp.topic, tp.partition) for tp in consumer.assignment()}
        # A partition assigned again later starts from a newer commit: forget old answers.
        answers.committed = {k: v for k, v in answers.committed.items() if k in assigned}
        self._ask_committed(assigned - set(lags) - set(answers.committed) - answers.asking)
        for key, lag in lags.items():
            self.gauge.labels(key[0], str(key[1])).set(lag)
        for key in self._exported - set(lags):
            self.gauge.remove(key[0], str(key[1]))
        self._exported = set(lags)
        return lags

    def close(self, timeout: float = 10.0) -> None:
        """Wait (bounded) for requests in flight, then release the admin client here."""
        for future in list(self._answers.pending):
            with contextlib.suppress(TimeoutError, CancelledError):
                future.exception(timeout=timeout)
        self._admin = None

    def _ask_committed(self, keys: set[Key]) -> None:
        if not keys or self._admin is None:
            return
        tps = [TopicPartition(topic, p) for topic, p in sorted(keys)]
        request = ConsumerGroupTopicPartitions(self.group_id, tps)
        futures = self._admin.list_consumer_group_offsets([request], request_timeout=10)
        answers = self._answers  # the callback must not reach self (see _Answers)
        answers.asking |= keys
        group_id = self.group_id

        def done(future: Future) -> None:  # on the admin client's thread
            answers.asking -= keys
            answers.pending.discard(future)
            try:
                answer = future.result()
            except KafkaException as exc:
                _log.debug("committed offsets of %s unavailable: %s", group_id, exc)
                return
            for tp in answer.topic_partitions:
                if tp.error is None:
                    answers.committed[(tp.topic, tp.partition)] = tp.offset

        for future in futures.values():
            answers.pending.add(future)
            future.add_done_callback(done)
