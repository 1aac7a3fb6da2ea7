"""What both engines keep about the input partitions a group member owns.

The default worker (:mod:`streamproc.kafka.worker`) and the Faust engine
(:mod:`streamproc.faust.engine`) differ in how they consume and rebalance, not in what
they do with a partition: restore its monitors (or pause it, saying why on
``/readyz``), checkpoint it, hand it over, and show it in the metrics.
:class:`GroupMember` is that common part.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

from prometheus_client import CollectorRegistry

from ..config import Settings
from ..core import EventDecoder, PartitionMonitors
from ..http import Health, HttpEndpoint
from ..metrics import WorkerMetrics, scrape_view
from ..processing import BatchProcessor
from .checkpoints import FLUSH_TIMEOUT_SECONDS, Checkpoints, RestoreFailed
from .common import check_reachable
from .outputs import Outputs
from .topics import ensure_topics

__all__ = ["KIND_ORDER", "RESTORE_RETRY_SECONDS", "VIEW_INTERVAL_SECONDS", "GroupMember"]

_log = logging.getLogger("streamproc.worker")

# Input kinds in the order a partition's batches are absorbed (the same in both engines).
KIND_ORDER = ("features", "predictions", "labels")
# How often the metrics view is refreshed, and a broker-caused restore failure retried.
VIEW_INTERVAL_SECONDS = 1.0
# Building the scrape view costs ~1-18 us per monitor (10,000 models of 10 features: 0.1
# s in warm-up, ~1 s once detecting), so it is rebuilt at most every VIEW_INTERVAL_SECONDS
# and no more often than keeps its building under this share of the main loop's time.
VIEW_MAX_SHARE = 0.05
# A checkpoint taking more than this share of checkpoint_interval_seconds is logged.
CHECKPOINT_WARN_SHARE = 0.25
CHECKPOINT_WARN_EVERY_SECONDS = 600.0
RESTORE_RETRY_SECONDS = 10.0


class GroupMember:
    """Partitions owned by one member of the consumer group, and their outputs."""

    def __init__(self, settings: Settings, registry: CollectorRegistry | None = None) -> None:
        self.settings = settings
        self.registry = registry or CollectorRegistry()
        self.metrics = WorkerMetrics(self.registry, settings.metrics_max_series)
        self.health = Health()
        self.topics = settings.input_topics()
        self.kind_of_topic = {topic: kind for kind, topic in self.topics.items()}
        allowed = frozenset(settings.models) if settings.allow_only_listed_models else None
        self.decoder = EventDecoder(settings.max_event_bytes, allowed)
        self.config = settings.detection_config()
        self.units: dict[int, PartitionMonitors] = {}
        self.failed: dict[int, str] = {}
        self.dirty: set[int] = set()
        self.http: HttpEndpoint | None = None
        self.processor: BatchProcessor | None = None
        self.partition_count = 0
        self._outputs: Outputs | None = None
        self._checkpoints: Checkpoints | None = None
        self._transient: set[int] = set()
        self._last_checkpoint = time.monotonic()
        self._last_view = 0.0
        self._view_seconds = 0.0  # how long the last view took to build
        self._checkpoint_warned = -CHECKPOINT_WARN_EVERY_SECONDS
        self._last_retry = time.monotonic()

    def _open(self) -> None:
        """Serve HTTP, check the broker, create topics, open outputs and checkpoints."""
        s = self.settings
        if self.http is None:
            self.http = HttpEndpoint(s.metrics_host, s.metrics_port, self.registry, self.health,
                                     s.metrics_web_config)
            self.http.start()
        client = check_reachable(s.broker, s.broker_timeout_seconds, s.kafka_properties())
        self.partition_count = ensure_topics(client, s)
        # max_models is split over the input partitions: every member of the group, and
        # every replay, gives a partition the same number of places (README "Sizing").
        self.config = replace(self.config, partitions=self.partition_count)
        self._outputs = Outputs(s, on_failure=self._delivery_failed)
        self.processor = BatchProcessor(self.decoder, self.metrics, self._outputs,
                                        s.dead_letter_topic)
        self._checkpoints = Checkpoints(s, self.config, self._outputs, self.metrics)

    def _close_outputs(self) -> None:
        """Flush outputs, close checkpoints, stop serving (after the final checkpoint)."""
        if self._outputs is not None:
            if not self._outputs.flush(FLUSH_TIMEOUT_SECONDS):
                _log.warning("%d output messages undelivered at shutdown", self._outputs.pending)
            self._outputs = None
        if self._checkpoints is not None:
            self._checkpoints.close()
            self._checkpoints = None
        self.publish_view()
        if self.http is not None:
            self.http.stop()
            self.http = None

    # -- partitions ------------------------------------------------------------------------
    def _restore(self, partition: int) -> PartitionMonitors | None:
        """The partition's monitors, or None (recorded in ``failed``) if unrestorable."""
        assert self._checkpoints is not None
        try:
            return self._checkpoints.restore(partition)
        except RestoreFailed as exc:
            self._pause(partition, exc.reason, exc.transient)
            return None

    def _pause(self, partition: int, reason: str, transient: bool) -> None:
        self.failed[partition] = reason
        if transient:
            self._transient.add(partition)
        else:
            self.metrics.state_errors.inc()
        _log.error("partition %d paused: %s", partition, reason)

    def _drop(self, numbers: set[int]) -> None:
        for p in numbers:
            if self.processor is not None:
                self.processor.forget(p)
            if self._checkpoints is not None:
                self._checkpoints.forget(p)
            unit = self.units.pop(p, None)
            if unit is not None:  # its models' series go with it (the new owner counts them)
                self.metrics.forget_models([*unit.models, *unit.joins])
            self.failed.pop(p, None)
            self._transient.discard(p)
            self.dirty.discard(p)
        self.metrics.partitions.set(len(self.units))
        self._update_readiness()

    def _update_readiness(self) -> None:
        if self.failed:
            p, reason = next(iter(sorted(self.failed.items())))
            self.health.set_ready(False, f"partition {p}: {reason}")
        else:
            self.health.set_ready(True)

    def _delivery_failed(self, topic: str, error: str) -> None:
        self.metrics.delivery_failures.labels(topic, error).inc()

    # -- checkpoints ---------------------------------------------------------------------------
    def _committing_consumer(self) -> Any:
        """The consumer whose offsets a checkpoint commits (None: the engine commits)."""
        return None

    def checkpoint(self, partitions: set[int] | None = None) -> bool:
        """Checkpoint the dirty partitions (all, or those in ``partitions``)."""
        self._last_checkpoint = time.monotonic()
        targets = sorted(self.dirty if partitions is None else self.dirty & partitions)
        if not targets or self._checkpoints is None:
            return True
        if not self._checkpoints.save(self.units, targets, self._committing_consumer()):
            return False
        self.dirty.difference_update(targets)
        self._warn_if_slow(time.monotonic() - self._last_checkpoint, len(targets))
        return True

    def _warn_if_slow(self, seconds: float, partitions: int) -> None:
        interval = self.settings.checkpoint_interval_seconds
        now = time.monotonic()
        if (seconds > CHECKPOINT_WARN_SHARE * interval
                and now - self._checkpoint_warned >= CHECKPOINT_WARN_EVERY_SECONDS):
            self._checkpoint_warned = now
            monitors = len(self.metrics.view.monitors)  # as of the last view
            _log.warning(
                "a checkpoint of %d partitions (%d monitors) took %.2fs of every %gs: "
                "events wait meanwhile; raise checkpoint_interval_seconds or spread the "
                "models over more workers", partitions, monitors, seconds, interval)

    # -- metrics view --------------------------------------------------------------------------
    def view_due(self, now: float) -> bool:
        """Time to rebuild the scrape view: VIEW_INTERVAL_SECONDS since the last, and
        long enough that building it stays under VIEW_MAX_SHARE of the time."""
        return now - self._last_view >= max(VIEW_INTERVAL_SECONDS,
                                            self._view_seconds / VIEW_MAX_SHARE)

    def publish_view(self) -> None:
        """Swap in what the next scrape shows (the scrape runs on another thread)."""
        started = time.monotonic()
        self.metrics.view = scrape_view(self.units, self.failed)
        self._last_view = started
        self._view_seconds = time.monotonic() - started

    def snapshot_states(self) -> dict[int, dict[str, Any]]:
        """Current state of every owned partition (for tests and diagnostics)."""
        return {p: u.to_state() for p, u in self.units.items()}
