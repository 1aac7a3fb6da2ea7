"""Checkpoints: how a partition's monitors outlive the worker that owns them.

Every event changes monitor state exactly once, even though Kafka delivers at
least once:

1. state is kept per input partition number (:class:`PartitionMonitors`), and
   remembers the offset of the last event of each input topic it absorbed;
2. :meth:`Checkpoints.save` first waits until every alert and dead letter produced
   so far is acknowledged, then writes the partition's snapshot to the state topic,
   waits for that too, and only then commits the consumer offsets;
3. :meth:`Checkpoints.restore` (on assignment: start, restart, rebalance) reads the
   best snapshot back; the worker seeks each input partition past what it includes
   and skips anything at or below that offset that still arrives.

A crash between steps loses nothing: alerts are re-detected from the replayed
events and re-sent with the same ``alert_id``; snapshots never run ahead of
delivered alerts; offsets never run ahead of snapshots.

The last good state of every owned partition (the snapshot last written or
restored) stays in memory: when the core fails on a batch, :meth:`Checkpoints.rewind`
rebuilds the partition from it, and the worker consumes again from there
(:mod:`streamproc.processing`).
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition

from ..config import Settings
from ..core import DetectionConfig, PartitionMonitors
from ..errors import BrokerError, SnapshotError, StreamprocError
from ..metrics import WorkerMetrics
from .outputs import Outputs
from .state_store import StateStore

__all__ = ["Checkpoints", "RestoreFailed"]

_log = logging.getLogger("streamproc.checkpoints")

# Bounded waits so that shutdown and rebalances finish in bounded time.
FLUSH_TIMEOUT_SECONDS = 15.0


class RestoreFailed(StreamprocError):
    """A partition's state cannot be restored; ``transient`` if retrying may help."""

    def __init__(self, reason: str, transient: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


class Checkpoints:
    """Save partitions' monitors to the state topic and restore them from it."""

    def __init__(
        self, settings: Settings, config: DetectionConfig, outputs: Outputs,
        metrics: WorkerMetrics,
    ) -> None:
        self.settings = settings
        self.config = config
        self.outputs = outputs
        self.metrics = metrics
        self.topics = settings.input_topics()
        self.store = StateStore(settings)
        # Partition -> its last snapshot (written or restored), encoded: nothing in it can
        # change with the live monitors; None: the partition started fresh.
        self._last_good: dict[int, bytes | None] = {}

    def restore(self, partition: int) -> PartitionMonitors:
        """The partition's monitors as last checkpointed (fresh ones if none or reset)."""
        if self.settings.reset_state:
            _log.warning("partition %d: --reset-state, starting fresh monitors", partition)
            self._last_good[partition] = None
            return PartitionMonitors(self.config, partition)
        try:
            state = self.store.load(partition)
            if state is None:
                self._last_good[partition] = None
                return PartitionMonitors(self.config, partition)
            unit = PartitionMonitors.from_state(self.config, state)
        except SnapshotError as exc:  # unreadable, forged, or (InvalidState) malformed
            raise RestoreFailed(str(exc)) from None
        except BrokerError as exc:
            raise RestoreFailed(f"{exc} (retrying)", transient=True) from None
        self._last_good[partition] = self.store.encode(state)
        _log.info("partition %d: state restored at offsets %s", partition, unit.offsets)
        return unit

    def rewind(self, partition: int) -> PartitionMonitors:
        """The partition's monitors as of its last good state (fresh if it had none)."""
        blob = self._last_good.get(partition)
        if blob is None:
            return PartitionMonitors(self.config, partition)
        return PartitionMonitors.from_state(self.config, self.store.decode(blob))

    def has_snapshot(self, partition: int) -> bool:
        """Whether the partition's last good state is a snapshot (not fresh monitors)."""
        return self._last_good.get(partition) is not None

    def forget(self, partition: int) -> None:
        """Drop the in-memory state of a partition this worker no longer owns."""
        self._last_good.pop(partition, None)

    def save(
        self, units: dict[int, PartitionMonitors], targets: list[int], consumer: Consumer | None
    ) -> bool:
        """Deliver outputs, snapshot ``targets``, then commit their offsets.

        True once the snapshots are delivered (a failed commit only lengthens the
        next replay); False, with nothing committed, while deliveries are pending.
        """
        started = time.perf_counter()
        if not self.outputs.flush(FLUSH_TIMEOUT_SECONDS):
            self.metrics.checkpoints.labels("deferred").inc()
            _log.warning("outputs not yet delivered; checkpoint deferred")
            return False
        offsets: list[TopicPartition] = []
        saved: dict[int, bytes] = {}
        for p in targets:
            unit = units[p]
            state = unit.to_state(encoded=True)  # quiet models' JSON as last time
            blob = self.store.encode(state)
            saved[p] = blob
            self.outputs.snapshot(p, self.store.record_key(p), blob, state["offsets"])
            self.metrics.snapshot_bytes.labels(str(p)).set(len(blob))
            offsets += [
                TopicPartition(self.topics[kind], p, offset + 1)
                for kind, offset in unit.offsets.items()
            ]
        if not self.outputs.flush(FLUSH_TIMEOUT_SECONDS):
            self.metrics.checkpoints.labels("deferred").inc()
            _log.warning("state snapshots not yet delivered; offsets not committed")
            return False
        self._last_good.update(saved)
        if offsets and consumer is not None:
            try:
                consumer.commit(offsets=offsets, asynchronous=False)
            except KafkaException as exc:
                # Not fatal: the snapshot holds the offsets, commits only shorten replays.
                _log.warning("offset commit failed: %s", exc.args[0].str())
        self.metrics.checkpoints.labels("written").inc()
        self.metrics.checkpoint_seconds.observe(time.perf_counter() - started)
        return True

    def close(self) -> None:
        self.store.close()
