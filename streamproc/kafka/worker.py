"""The worker: consume input topics, feed the core, publish alerts, checkpoint state.

Every event changes monitor state exactly once: the checkpoint protocol is in
:mod:`streamproc.kafka.checkpoints`. On assignment the worker restores each
partition's state and seeks past what it includes; a partition whose state
cannot be restored is paused (with the reason on ``/readyz``) while the others
run, and retried when the cause was the broker.

Consumption uses librdkafka's range assignor, which gives the same partition
numbers of every input topic to the same worker (co-partitioning).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from prometheus_client import CollectorRegistry

from ..config import Settings
from ..errors import BrokerError
from ..processing import MessageBatch, Rewind
from ..webhooks.settings import resolve as resolve_webhooks
from .common import consumer_config, new_consumer
from .lag import ConsumerLag
from .member import KIND_ORDER, RESTORE_RETRY_SECONDS, GroupMember
from .webhook_relay import WebhookRelays

__all__ = ["Worker"]

_log = logging.getLogger("streamproc.worker")

POLL_TIMEOUT_SECONDS = 0.05  # a partial batch waits at most this (plus a fetch)
# A partition the core fails on this many times within the window is paused (reason
# on /readyz) instead of dead-lettering its stream batch after batch: the failure is
# a bug that replaying will not fix.
MAX_REWINDS = 3
REWIND_WINDOW_SECONDS = 600.0


class _Timestamps(Sequence[int | None]):
    """The messages' Kafka timestamps (None where there is none), read only where a
    dead letter needs one."""

    __slots__ = ("_msgs",)

    def __init__(self, msgs: list[Message]) -> None:
        self._msgs = msgs

    def __len__(self) -> int:
        return len(self._msgs)

    def __getitem__(self, i: int) -> int | None:  # type: ignore[override]
        ts_type, ts = self._msgs[i].timestamp()
        return ts if ts_type else None


class Worker(GroupMember):
    """One streamproc worker process (a member of the consumer group)."""

    def __init__(self, settings: Settings, registry: CollectorRegistry | None = None) -> None:
        super().__init__(settings, registry)
        self._stop = threading.Event()
        self._consumer: Consumer | None = None
        self._lag: ConsumerLag | None = None
        self._relays: WebhookRelays | None = None
        self._rewinds: dict[int, list[float]] = {}

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Check the broker, create topics, start the HTTP endpoint and join the group."""
        s = self.settings
        hooks = resolve_webhooks(s.alert_webhooks, os.environ)  # a missing secret stops here
        self._open()
        assert self.http is not None
        kafka = s.kafka_properties()
        self._lag = ConsumerLag(s.broker, s.group_id, self.metrics.consumer_lag, kafka)
        config = consumer_config(
            s.broker, f"streamproc-worker-{s.group_id}", kafka,
            {
                "group.id": s.group_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                # Range assignment keeps co-partitioned topics together (see module doc).
                "partition.assignment.strategy": "range",
                "session.timeout.ms": s.session_timeout_ms,
                "heartbeat.interval.ms": s.heartbeat_interval_ms,
                "max.poll.interval.ms": s.max_poll_interval_ms,
                "fetch.wait.max.ms": s.fetch_wait_max_ms,
            },
        )
        self._consumer = new_consumer(config)
        self._consumer.subscribe(
            list(self.topics.values()),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        if hooks:
            self._relays = WebhookRelays(s, hooks, self.registry)
            self._relays.start()
        _log.info(
            "worker joined group %s on %s (%d partitions per input topic); metrics at %s",
            s.group_id, s.broker, self.partition_count, self.http.url,
        )

    def stop(self) -> None:
        """Ask the loop to finish (signal-handler safe)."""
        self._stop.set()

    def run(self, max_seconds: float | None = None) -> None:
        """Consume until stop() (or for max_seconds); then checkpoint and leave the group."""
        assert self._consumer is not None and self._outputs is not None
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        interval = self.settings.checkpoint_interval_seconds
        try:
            while not self._stop.is_set():
                if deadline is not None and time.monotonic() > deadline:
                    break
                msgs = self._take()
                self.health.beat()
                if msgs:
                    started = time.perf_counter()
                    self._process(msgs)
                    self.metrics.batch_seconds.observe(time.perf_counter() - started)
                self._outputs.poll()
                now = time.monotonic()
                if now - self._last_checkpoint >= interval:
                    self.checkpoint()
                if self.view_due(now):
                    self.publish_view()
                    self._refresh_lag()
                if self._transient and now - self._last_retry >= RESTORE_RETRY_SECONDS:
                    self._retry_failed()
        finally:
            self.close()

    def close(self) -> None:
        """Final checkpoint, leave the group, stop serving. Bounded in time."""
        if self._relays is not None:
            self._relays.stop()  # they finish their attempt in flight meanwhile
        if self._consumer is not None:
            try:
                self.checkpoint()
            except (KafkaException, BrokerError) as exc:
                _log.warning(
                    "final checkpoint failed (%s); state resumes from the previous one", exc
                )
            self._consumer.close()  # leaves the group: the others rebalance at once
            self._consumer = None
        if self._relays is not None:
            self._relays.join()
            self._relays = None
        if self._lag is not None:
            self._lag.close()  # releases its admin client on this thread
            self._lag = None
        self._close_outputs()

    # -- rebalancing -------------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.metrics.rebalances.inc()
        for p in sorted({tp.partition for tp in partitions}):
            if p in self.units or p in self.failed:
                continue
            unit = self._restore(p)
            if unit is not None:
                self.units[p] = unit
        for tp in partitions:
            unit = self.units.get(tp.partition)
            kind = self.kind_of_topic[tp.topic]
            if unit is not None and unit.absorbed(kind) >= 0:
                tp.offset = unit.absorbed(kind) + 1
        consumer.assign(partitions)
        paused = [tp for tp in partitions if tp.partition in self.failed]
        if paused:
            consumer.pause(paused)
        self.metrics.partitions.set(len(self.units))
        self._update_readiness()
        _log.info(
            "assigned partitions %s%s", sorted(self.units),
            f"; paused {sorted(self.failed)} (state cannot be restored)" if self.failed else "",
        )

    def _retry_failed(self) -> None:
        """Restore partitions whose state could not be read because of a broker problem."""
        assert self._consumer is not None
        self._last_retry = time.monotonic()
        for p in sorted(self._transient & set(self.failed)):
            self.failed.pop(p)
            self._transient.discard(p)
            unit = self._restore(p)
            if unit is None:
                continue
            self.units[p] = unit
            tps = [TopicPartition(topic, p) for topic in self.topics.values()]
            for tp in tps:
                offset = unit.absorbed(self.kind_of_topic[tp.topic])
                if offset >= 0:
                    self._consumer.seek(TopicPartition(tp.topic, p, offset + 1))
            self._consumer.resume(tps)
            _log.info("partition %d: state restored after retry; resumed", p)
        self.metrics.partitions.set(len(self.units))
        self._update_readiness()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        numbers = {tp.partition for tp in partitions}
        try:
            self.checkpoint(numbers)
        except (KafkaException, BrokerError) as exc:
            _log.warning("checkpoint before handing over partitions failed: %s", exc)
        self._drop(numbers)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Someone else may own these partitions now: writing their state would race it.
        numbers = {tp.partition for tp in partitions}
        _log.warning("lost partitions %s without a clean hand-over", sorted(numbers))
        self._drop(numbers)

    def _drop(self, numbers: set[int]) -> None:
        for p in numbers:
            self._rewinds.pop(p, None)
        super()._drop(numbers)

    # -- processing ----------------------------------------------------------------------------
    def _take(self) -> list[Message]:
        """One batch: a poll that waits up to POLL_TIMEOUT_SECONDS, then, while polls
        come back full (messages already fetched are waiting), polls that do not wait,
        up to ``batch_max_messages`` and ``batch_max_bytes``.

        A batch spans partitions, and the core's cost per event falls with events per
        partition per batch (benchmarks/e2e.py headline: 35k events/s with batches of
        5,000 messages over 6 partitions, 72k with 60,000); a live stream below the
        worker's rate is unaffected (each poll returns what arrived, not full).
        """
        assert self._consumer is not None
        s = self.settings
        consume = self._consumer.consume
        msgs = consume(s.batch_size, POLL_TIMEOUT_SECONDS)
        full, size = len(msgs) == s.batch_size, sum(map(len, msgs))
        while full and len(msgs) < s.batch_max_messages and size < s.batch_max_bytes:
            want = min(s.batch_size, s.batch_max_messages - len(msgs))
            more = consume(want, 0)
            msgs += more
            full, size = len(more) == want, size + sum(map(len, more))
        return msgs

    def _process(self, msgs: list[Message]) -> None:
        grouped: dict[tuple[int, int], list[Message]] = {}
        rank = {topic: KIND_ORDER.index(kind) for topic, kind in self.kind_of_topic.items()}
        for m in msgs:
            err = m.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    _log.warning("consumer error on %s: %s", m.topic(), err.str())
                continue
            k = rank.get(m.topic())
            if k is not None:
                grouped.setdefault((m.partition(), k), []).append(m)
        assert self.processor is not None
        now = time.time()
        rewound: set[int] = set()
        for (p, k), msgs_pk in sorted(grouped.items(), key=lambda item: item[0]):
            unit = self.units.get(p)
            if unit is None or p in rewound:
                continue  # revoked, paused after a failed restore, or rewound: not absorbed
            kind = KIND_ORDER[k]
            batch = MessageBatch(
                self.topics[kind], kind, p, [m.key() for m in msgs_pk],
                [m.value() for m in msgs_pk], [m.offset() for m in msgs_pk],
                _Timestamps(msgs_pk),
            )
            rewind = self.processor.absorb(unit, batch, now)
            if rewind is not None:
                self._rewind(rewind)
                rewound.add(p)
            else:
                self.dirty.add(p)

    def _rewind(self, rewind: Rewind) -> None:
        """Restore a partition's last good state and consume again from what it includes."""
        assert self._checkpoints is not None and self._consumer is not None
        p = rewind.partition
        self.metrics.rewinds.inc()
        now = time.monotonic()
        recent = [t for t in self._rewinds.get(p, []) if now - t < REWIND_WINDOW_SECONDS]
        self._rewinds[p] = recent + [now]
        if len(self._rewinds[p]) >= MAX_REWINDS:
            self._pause_failing(p, rewind)
            return
        unit = self._checkpoints.rewind(p)
        self.units[p] = unit
        self.dirty.add(p)  # the dead-lettered batch moves the absorbed offsets
        tps = [TopicPartition(topic, p) for topic in self.topics.values()]
        committed = {tp.topic: tp.offset for tp in self._consumer.committed(tps, timeout=10)}
        for topic, kind in self.kind_of_topic.items():
            absorbed = unit.absorbed(kind)
            if absorbed >= 0:
                offset = absorbed + 1
            else:
                offset = committed.get(topic, -1)
                if offset < 0:
                    offset = OFFSET_BEGINNING
            self._consumer.seek(TopicPartition(topic, p, offset))
        _log.warning(
            "partition %d rewound to offsets %s after a processing error on %s offsets %d-%d",
            p, unit.offsets, rewind.kind, rewind.first_offset, rewind.last_offset,
        )

    def _pause_failing(self, p: int, rewind: Rewind) -> None:
        """Stop consuming a partition the core keeps failing on (until a restart)."""
        assert self._consumer is not None
        self.units.pop(p, None)
        self.dirty.discard(p)
        self.failed[p] = (
            f"the detection core failed on {MAX_REWINDS} batches within "
            f"{REWIND_WINDOW_SECONDS:.0f}s ({rewind.error}); the partition is paused at its "
            "last snapshot: see the worker log, fix, and restart the worker"
        )
        self._consumer.pause([TopicPartition(topic, p) for topic in self.topics.values()])
        self.metrics.partitions.set(len(self.units))
        self._update_readiness()
        _log.error("partition %d paused: %s", p, self.failed[p])

    def _committing_consumer(self) -> Consumer | None:
        return self._consumer

    # -- metrics view --------------------------------------------------------------------------
    def _refresh_lag(self) -> None:
        """Consumer lag per input partition (paused ones excluded: their watermark is frozen)."""
        if self._lag is not None and self._consumer is not None:
            self._lag.refresh(self._consumer, exclude=self.failed)
