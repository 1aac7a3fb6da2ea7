"""Engine-neutral batch processing: raw input messages in, monitor state, alerts and
dead letters out.

Both engines (the default librdkafka worker and the faust-streaming agents) hand
:class:`BatchProcessor` the messages of one input partition and topic, in offset
order. It decodes and validates them, dead-letters the bad ones, applies the good
ones to the partition's monitors, publishes alerts through a :class:`Sink`, and
counts everything in the worker metrics. It imports no Kafka client.

A batch the core fails on (a bug, never the sender's fault) must not leave
half-applied state behind. :meth:`BatchProcessor.absorb` then returns a
:class:`Rewind`: the engine discards the partition's monitors, restores its last
good snapshot and consumes again from the offsets that snapshot includes. The
failed batch's offsets are remembered as poison, so on the way back its events go
to the dead-letter topic (reason ``processing_error``) instead of the monitors, and
outputs already produced before the rewind are not produced twice.
"""

from __future__ import annotations

import gc
import logging
import time
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .core import Applied, EventDecoder, PartitionMonitors, Rejection
from .metrics import WorkerMetrics

__all__ = ["BatchProcessor", "MessageBatch", "Rewind", "Sink", "tune_gc"]

_log = logging.getLogger("streamproc.processing")

# The cyclic garbage collector's young generation: a pass per 100,000 net allocations
# instead of 700. A batch of 5,000 decoded events allocates ~10,000 dicts (acyclic), so
# the default ran ~15 passes per batch, each also walking the survivors of the last:
# 20-25% of the core's time (the steady state of benchmarks/e2e.py's headline events,
# in process). Cycles are still collected, later.
GC_THRESHOLDS = (100_000, 20, 100)


def tune_gc() -> None:
    """Set the collector for the hot path: everything alive now (imports, restored
    state) moves to the permanent generation, and young passes become rare."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


# Bad-input log lines per reason per minute; the rest are counted in metrics only.
_REJECT_LOG_PER_MINUTE = 10


@dataclass(slots=True)
class MessageBatch:
    """Consecutive messages of one input partition of one topic, in offset order."""

    topic: str
    kind: str  # "features", "predictions" or "labels"
    partition: int
    keys: Sequence[bytes | None]
    values: Sequence[bytes | None]
    offsets: Sequence[int]
    timestamps_ms: Sequence[int | None]  # the messages' Kafka timestamps, for dead letters


class Sink(Protocol):
    """Where a processor's outputs go (the engine's producer)."""

    def alert(self, alert: dict[str, Any]) -> None: ...

    def dead_letter(
        self, key: bytes | None, value: bytes | None, rejection: Rejection, topic: str,
        partition: int, offset: int, timestamp_ms: int | None,
    ) -> None: ...


@dataclass(frozen=True)
class Rewind:
    """The core failed on a batch: restore ``partition`` from its last good state and
    consume again from there (the failed offsets are dead-lettered on the way)."""

    partition: int
    kind: str
    first_offset: int
    last_offset: int
    error: str


@dataclass
class _PartitionMarks:
    # Per input kind: the last offset whose alerts were produced and events counted,
    # and the last offset dead-lettered (a failed batch's rejections were sent already).
    produced: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    # Per input kind: offset ranges (inclusive) whose events failed in the core.
    poison: dict[str, list[tuple[int, int]]] = field(default_factory=dict)


class BatchProcessor:
    """Decode, validate, apply and publish one partition batch at a time."""

    def __init__(
        self, decoder: EventDecoder, metrics: WorkerMetrics, sink: Sink, dead_letter_topic: str
    ) -> None:
        self.decoder = decoder
        self.metrics = metrics
        self.sink = sink
        self.dead_letter_topic = dead_letter_topic
        self._marks: dict[int, _PartitionMarks] = {}
        self._reject_log: dict[str, tuple[float, int]] = {}

    def forget(self, partition: int) -> None:
        """Drop what is remembered of a partition (revoked or lost)."""
        self._marks.pop(partition, None)

    def absorb(self, unit: PartitionMonitors, batch: MessageBatch, now: float) -> Rewind | None:
        """Absorb a batch into ``unit``; a :class:`Rewind` if the core failed on it."""
        kind, topic, p = batch.kind, batch.topic, batch.partition
        marks = self._marks.setdefault(p, _PartitionMarks())
        produced = marks.produced.get(kind, -1)
        rejected = marks.rejected.get(kind, -1)
        poison = marks.poison.get(kind, ())
        offsets = list(batch.offsets)
        if not offsets:
            return None
        last = offsets[-1]
        start = unit.first_unabsorbed(kind, offsets)  # a redelivered prefix is skipped
        if start:
            self.metrics.events_redelivered.labels(topic).inc(start)
        if start == len(offsets):
            return None
        poisoned = [i for i in range(start, len(offsets))
                    if any(lo <= offsets[i] <= hi for lo, hi in poison)] if poison else []
        keys, values = batch.keys, batch.values
        if start == 0 and not poisoned:
            events, bad = self.decoder.decode_batch(kind, keys, values, offsets)
        else:
            skip = set(poisoned)
            picked = [i for i in range(start, len(offsets)) if i not in skip]
            events, bad = self.decoder.decode_batch(
                kind, [keys[i] for i in picked], [values[i] for i in picked],
                [offsets[i] for i in picked])
            bad = [(picked[j], why) for j, why in bad]
        poison_reason = Rejection(
            "processing_error", "the worker failed on the batch that held this event; it was "
            "kept here instead of stopping the worker (see the worker log)",
        )
        rejections = sorted(bad + [(i, poison_reason) for i in poisoned])
        for i, why in rejections:
            offset = offsets[i]
            if offset > rejected:
                self._reject(keys[i], values[i], why, topic, p, offset, batch.timestamps_ms[i])
                marks.rejected[kind] = offset
        try:
            applied = unit.apply(kind, topic, events, now, last_offset=last)
        except Exception as exc:  # noqa: BLE001 - a bug must not stop the worker
            first = int(events.offsets[0]) if len(events) else last
            _log.exception(
                "processing %d %s events of partition %d failed (%r); rewinding the partition "
                "to its last snapshot, the batch's events go to %s",
                len(events), kind, p, exc, self.dead_letter_topic,
            )
            marks.poison.setdefault(kind, []).append((first, last))
            return Rewind(p, kind, first, last, repr(exc))
        marks.produced[kind] = max(produced, last)
        if applied.refused:
            self._refuse(unit, batch, applied, produced)
        if applied.evicted:
            self.metrics.forget_models(applied.evicted)
        for alert in applied.alerts:
            if alert["source"]["offset"] <= produced:
                continue  # replayed after a rewind: already published
            self.sink.alert(alert)
            self.metrics.count_alert(alert)
            _log.info("ALERT %s", alert["summary"])
        for model_id, n, ts in applied.per_model(after=produced):
            self.metrics.events_consumed.labels(model_id, topic).inc(n)
            self.metrics.last_event.labels(model_id, topic).set(ts)
        for model_id, det, offset in applied.suppressed:
            if offset > produced:
                self.metrics.suppressed.labels(model_id, det.detector).inc()
        return None

    def _refuse(self, unit: PartitionMonitors, batch: MessageBatch, applied: Applied,
                produced: int) -> None:
        """Dead-letter the events of models that found no place (too_many_models), like
        alerts: once, even when a rewind replays them."""
        cfg = unit.config
        offsets = batch.offsets
        for offset, model_id in zip(applied.refused, applied.refused_models, strict=True):
            if offset <= produced:
                continue
            i = bisect_left(offsets, offset)
            why = Rejection(
                "too_many_models",
                f"model {model_id!r} has no place: partition {batch.partition} already holds "
                f"{cfg.places_per_partition} models (max_models {cfg.max_models} over "
                f"{cfg.partitions} partitions) seen within model_idle_seconds; raise "
                "max_models, list the model under `models`, or fix the producer that sends "
                "this many model ids",
            )
            self._reject(batch.keys[i], batch.values[i], why, batch.topic, batch.partition,
                         offset, batch.timestamps_ms[i])

    def _reject(
        self, key: bytes | None, value: bytes | None, rejection: Rejection, topic: str,
        partition: int, offset: int, ts_ms: int | None,
    ) -> None:
        self.sink.dead_letter(key, value, rejection, topic, partition, offset, ts_ms)
        self.metrics.events_invalid.labels(topic, rejection.reason).inc()
        window, count = self._reject_log.get(rejection.reason, (0.0, 0))
        now = time.monotonic()
        if now - window > 60.0:
            window, count = now, 0
        if count < _REJECT_LOG_PER_MINUTE:
            _log.warning(
                "rejected %s[%d]@%d (%s): %s; sent to %s", topic, partition, offset,
                rejection.reason, rejection.detail, self.dead_letter_topic,
            )
        self._reject_log[rejection.reason] = (window, count + 1)
