"""The Faust engine's bookkeeping: partitions, state, checkpoints, positions.

:class:`FaustMonitors` is what :func:`streamproc.faust.add_monitors` puts in a Faust
app. It imports no faust: the app module hands it Faust's ``event.message``\\ s, and
acknowledges and commits what it is told to. The core, the batch processor, the
checkpoint protocol, the metrics and the HTTP endpoint are the default engine's, so
both engines publish the same alerts, dead letters and metrics for the same input.

Guarantee after ``kill -9``: every valid event changes monitor state exactly once.

- State is the default engine's: one :class:`PartitionMonitors` per input partition
  number, snapshotted to the state topic with the offsets it includes, after its
  alerts and dead letters were delivered (:class:`Checkpoints`).
- Faust commits the offsets of acknowledged events on its own; an event is
  acknowledged once the monitors in memory include it, so a commit can be ahead of
  the last snapshot. At the end of every rebalance Faust seeks each partition to its
  committed offset: just before, :meth:`FaustMonitors.offsets_to_commit` gives it the
  offsets the restored state needs next, and those are committed, so consumption
  resumes exactly after the snapshot. (A seek of our own would not do: mid-stream,
  Faust's message loop overwrites the read offset the seek sets and drops the
  re-fetched messages.) The first delivery of every partition is checked against the
  state all the same; one beyond it pauses the partition, saying so on ``/readyz``.
- A partition with no snapshot starts where the default engine would (the group's
  committed offset, else ``auto_offset_reset``), and that start is written as its
  first snapshot before any of its events is absorbed.
- When the core fails on a batch, the partition's last good state is restored and
  everything absorbed since is absorbed again from memory (the messages are kept until
  a snapshot includes them), with the failed batch's events dead-lettered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry

from ..config import Settings
from ..errors import BrokerError
from ..kafka.checkpoints import RestoreFailed
from ..kafka.member import KIND_ORDER, RESTORE_RETRY_SECONDS, GroupMember
from ..processing import MessageBatch, Rewind
from .starts import GroupStarts

__all__ = ["Delivery", "FaustMonitors"]

_log = logging.getLogger("streamproc.faust")

# Replays of one batch after rewinds: each adds the failed events to the dead letters,
# so it ends; the cap only turns an unforeseen loop into an error.
MAX_REPLAYS = 100


class Delivery(Protocol):
    """What the engine reads of a delivered message (Faust's ``event.message``)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float | None  # seconds (Faust converts Kafka's milliseconds)


def _timestamp_ms(seconds: float | None) -> int | None:
    if seconds is None or seconds < 0:
        return None
    return int(round(seconds * 1000.0))


class FaustMonitors(GroupMember):
    """streamproc's monitors inside a faust-streaming app."""

    def __init__(
        self, settings: Settings, registry: CollectorRegistry | None = None,
        auto_offset_reset: str = "earliest",
    ) -> None:
        super().__init__(settings, registry)
        self.auto_offset_reset = auto_offset_reset
        self._starts: GroupStarts | None = None
        # Per partition: messages delivered since its last snapshot (absorbed ones, kept
        # for a replay after a rewind; or, while its restore is retried, all of them).
        self._held: dict[int, list[Delivery]] = {}
        # Per partition: the kinds whose first delivery since the assignment was checked.
        self._checked: dict[int, set[str]] = {}

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def started(self) -> bool:
        return self._checkpoints is not None

    def start(self) -> None:
        """Serve HTTP, check the broker, create topics, open the clients (idempotent)."""
        if self.started:
            return
        s = self.settings
        self._open()
        self._starts = GroupStarts(s.broker, s.group_id, self.auto_offset_reset,
                                   s.kafka_properties())
        assert self.http is not None
        _log.info(
            "streamproc monitors for group %s on %s (%d partitions per input topic); "
            "metrics at %s", s.group_id, s.broker, self.partition_count, self.http.url,
        )

    def close(self) -> None:
        """Final checkpoint, flush outputs, stop serving. Bounded in time."""
        try:
            self.checkpoint()
        except BrokerError as exc:
            _log.warning("final checkpoint failed (%s); state resumes from the previous one", exc)
        if self._starts is not None:
            self._starts.close()
            self._starts = None
        self._close_outputs()

    # -- rebalancing -----------------------------------------------------------------------
    def assign(self, assigned: Iterable[tuple[str, int]]) -> None:
        """Take over the input partitions in ``assigned`` (all of the member's (topic,
        partition) pairs; other topics of the app are ignored)."""
        self.metrics.rebalances.inc()
        kinds: dict[int, set[str]] = {}
        for topic, p in assigned:
            kind = self.kind_of_topic.get(topic)
            if kind is not None:
                kinds.setdefault(p, set()).add(kind)
        for p in sorted(kinds):
            if p in self.units or p in self.failed:
                continue
            missing = [self.topics[k] for k in KIND_ORDER if k not in kinds[p]]
            if missing:
                # The unit of state is the partition number: one member must own it in
                # every input topic, or two members would each keep half of its models.
                self._stop(p, f"assigned without partition {p} of {', '.join(missing)}; the "
                           "input topics must be co-partitioned (same partition count, "
                           "Faust's default assignor)")
                continue
            self._take_over(p)
        self.metrics.partitions.set(len(self.units))
        self._update_readiness()
        _log.info(
            "assigned partitions %s%s", sorted(self.units),
            f"; paused {sorted(self.failed)} (see above)" if self.failed else "",
        )

    def _take_over(self, p: int) -> bool:
        """Restore partition ``p`` and fix where each of its topics starts; False (with the
        reason in ``failed``) if that is not possible now."""
        assert self._checkpoints is not None and self._starts is not None
        try:
            unit = self._checkpoints.restore(p)
            known = self._checkpoints.has_snapshot(p)
            fresh = [(self.topics[k], p) for k in KIND_ORDER if unit.absorbed(k) < 0]
            if fresh:
                starts = (self._starts.beginning(fresh) if known
                          else self._starts.group_start(fresh))
                for (topic, _), start in sorted(starts.items()):
                    if start > 0:
                        unit.apply(self.kind_of_topic[topic], topic, [], time.time(),
                                   last_offset=start - 1)
            self.units[p] = unit
            if not known and not self._checkpoints.save(self.units, [p], None):
                self.units.pop(p)
                raise BrokerError("its first state snapshot is not delivered yet")
        except RestoreFailed as exc:
            self._pause(p, exc.reason, exc.transient)
            return False
        except BrokerError as exc:
            self._pause(p, f"{exc} (retrying)", transient=True)
            return False
        return True

    def offsets_to_commit(self) -> dict[tuple[str, int], int]:
        """(topic, partition) to the offset its state needs next, for every owned input
        partition: committed just before Faust seeks to the committed offsets."""
        return {
            (self.topics[kind], p): unit.absorbed(kind) + 1
            for p, unit in sorted(self.units.items()) for kind in KIND_ORDER
        }

    def revoke(self, revoked: Iterable[tuple[str, int]]) -> None:
        """Checkpoint and hand over the input partitions in ``revoked``."""
        numbers = {p for topic, p in revoked if topic in self.kind_of_topic}
        try:
            self.checkpoint(numbers)
        except BrokerError as exc:
            _log.warning("checkpoint before handing over partitions failed: %s", exc)
        for p in numbers:
            self._held.pop(p, None)
            self._checked.pop(p, None)
        self._drop(numbers)

    # -- processing ------------------------------------------------------------------------
    def absorb(self, deliveries: Sequence[Delivery], now: float | None = None) -> list[int]:
        """Absorb a batch of deliveries (any topics and partitions, in delivery order); the
        indices of those the monitors now include (to acknowledge)."""
        started = time.perf_counter()
        now = time.time() if now is None else now
        rows: dict[int, list[int]] = {}
        for i, d in enumerate(deliveries):
            if d.topic in self.kind_of_topic:
                rows.setdefault(d.partition, []).append(i)
        acks: list[int] = []
        for p, idx in sorted(rows.items()):
            msgs = [deliveries[i] for i in idx]
            if p in self.units and self._positioned(p, msgs):
                try:
                    self._absorb_partition(p, msgs, now)
                except Exception:  # noqa: BLE001 - not the core's (it rewinds): an output, say
                    if not self._recover(p, msgs, now):
                        continue
                acks += idx
            elif p in self._transient:
                # Kept until its state can be read. Acknowledged all the same: where the
                # partition resumes after a rebalance comes from its state, not from
                # Faust's commits, and Faust's shutdown waits for every delivered event.
                self._held.setdefault(p, []).extend(msgs)
                acks += idx
            # Otherwise (not owned, or paused for good): neither absorbed nor acknowledged.
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        return acks

    def _positioned(self, p: int, msgs: Sequence[Delivery]) -> bool:
        """Whether the first delivery of each topic since the assignment is at most the
        offset the state needs next; if not, pause the partition (see module doc)."""
        unit = self.units[p]
        checked = self._checked.setdefault(p, set())
        for m in msgs:
            if len(checked) == len(KIND_ORDER):
                break
            kind = self.kind_of_topic[m.topic]
            if kind in checked:
                continue
            checked.add(kind)
            expected = unit.absorbed(kind) + 1
            if m.offset > expected:
                self._stop(p, f"{m.topic} was delivered from offset {m.offset} but its state "
                           f"ends at offset {expected - 1}; restart the worker to resume from "
                           "the state")
                return False
        return True

    def _stop(self, p: int, reason: str) -> None:
        """Stop absorbing partition ``p`` until the next rebalance, saying why."""
        self.units.pop(p, None)
        self.dirty.discard(p)
        self._held.pop(p, None)
        self.failed[p] = reason  # not a state error: the state is fine, the position is not
        _log.error("partition %d paused: %s", p, reason)
        self._update_readiness()

    def _absorb_partition(self, p: int, msgs: list[Delivery], now: float) -> None:
        """Absorb one partition's messages; after a rewind, everything since the last good
        state again (the failed events go to the dead-letter topic on the way)."""
        assert self._checkpoints is not None
        since = self._held.setdefault(p, [])
        todo = msgs
        for _ in range(MAX_REPLAYS):
            rewind = self._apply(p, todo, now)
            if rewind is None:
                since.extend(msgs)
                self.dirty.add(p)
                return
            self.metrics.rewinds.inc()
            self.units[p] = self._checkpoints.rewind(p)
            todo = since + msgs
            _log.warning(
                "partition %d rewound to offsets %s after a processing error on %s offsets "
                "%d-%d; absorbing the %d messages since again", p, self.units[p].offsets,
                rewind.kind, rewind.first_offset, rewind.last_offset, len(todo),
            )
        raise RuntimeError(f"partition {p}: a batch still fails after {MAX_REPLAYS} rewinds")

    def _apply(self, p: int, msgs: Sequence[Delivery], now: float) -> Rewind | None:
        """Hand ``msgs`` to the batch processor, topic by topic, in runs of rising offsets."""
        assert self.processor is not None
        unit = self.units[p]
        for kind in KIND_ORDER:
            topic = self.topics[kind]
            of_kind = [m for m in msgs if m.topic == topic]
            start = 0
            for end in range(1, len(of_kind) + 1):
                if end < len(of_kind) and of_kind[end].offset > of_kind[end - 1].offset:
                    continue
                run = of_kind[start:end]
                start = end
                batch = MessageBatch(
                    topic, kind, p, [m.key for m in run], [m.value for m in run],
                    [m.offset for m in run], [_timestamp_ms(m.timestamp) for m in run],
                )
                rewind = self.processor.absorb(unit, batch, now)
                if rewind is not None:
                    return rewind
        return None

    def _recover(self, p: int, msgs: list[Delivery], now: float) -> bool:
        """After an unexpected error absorbing ``msgs`` (half-published, perhaps): rebuild
        the partition from its last good state and absorb everything since again. If that
        fails too, pause it: later messages must not be absorbed over a hole."""
        assert self._checkpoints is not None
        _log.exception("absorbing %d messages of partition %d failed; rebuilding it from its "
                       "last good state", len(msgs), p)
        self.units[p] = self._checkpoints.rewind(p)
        since = self._held.pop(p, [])
        try:
            self._absorb_partition(p, since + msgs, now)
        except Exception as exc:  # noqa: BLE001
            self._stop(p, f"absorbing its events fails ({exc!r}); see the log and restart the "
                       "worker")
            return False
        return True

    # -- periodic work ---------------------------------------------------------------------
    def tick(self, rebalancing: bool) -> None:
        """Beat, checkpoint and publish when due, retry restores that failed on the broker."""
        self.health.beat()
        now = time.monotonic()
        if now - self._last_checkpoint >= self.settings.checkpoint_interval_seconds:
            self.checkpoint()
        if self.view_due(now):
            self.publish_view()
        if self._transient and not rebalancing and now - self._last_retry >= RESTORE_RETRY_SECONDS:
            self._last_retry = now
            for p in sorted(self._transient & set(self.failed)):
                self.failed.pop(p)
                self._transient.discard(p)
                held = self._held.pop(p, [])
                if self._take_over(p):
                    _log.info("partition %d: state restored after retry", p)
                    if held and self._positioned(p, held):
                        self._absorb_partition(p, held, time.time())
                else:
                    self._held[p] = held
            self.metrics.partitions.set(len(self.units))
            self._update_readiness()

    def checkpoint(self, partitions: set[int] | None = None) -> bool:
        """Checkpoint the dirty partitions (all, or those in ``partitions``)."""
        targets = set(self.dirty if partitions is None else self.dirty & partitions)
        if not super().checkpoint(partitions):
            return False
        for p in targets:
            self._held.pop(p, None)  # the snapshot includes them: no replay needs them
        return True
