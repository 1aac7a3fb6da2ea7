"""The unit of state: every monitor fed by one partition number of the input topics.

Input topics are keyed by model_id and co-partitioned, so partition ``p`` of
``features``, ``predictions`` and ``labels`` carries all events of the same models.
A :class:`PartitionMonitors` holds those models' monitors, their label joins, and
for each input topic the offset of the last event it has absorbed. A snapshot of
it therefore says exactly which events it includes: after a crash, the worker
restores the snapshot and skips events at or below those offsets, so every event
is counted once however often Kafka redelivers it.

It holds a bounded number of models (:mod:`.places`): events of a model without a
place are refused (``Applied.refused``, dead-lettered by the engine), and models idle
in the partition's event time are evicted (``Applied.evicted``) and leave its state.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..contracts import Detection, EventBatch, InputEvent, make_alert
from ..errors import InvalidSetting, InvalidState
from ..monitors import MonitorView
from ..settings import DetectionConfig
from .encoded import EncodedModels
from .label_join import JoinBuffer, Outcome
from .model import ModelMonitor
from .model_wide import PerformanceView
from .places import ModelPlaces
from .rows import group_rows

__all__ = ["Applied", "PartitionMonitors"]


@dataclass
class Applied:
    """What applying a batch produced: alerts to publish, and suppressed detections."""

    alerts: list[dict[str, Any]] = field(default_factory=list)
    # (model_id, detection, offset of the event that triggered it)
    suppressed: list[tuple[str, Detection, int]] = field(default_factory=list)
    skipped: int = 0  # events at or below the absorbed offset (redeliveries)
    # The events absorbed (redeliveries dropped), and their rows per (model, version):
    # the batch's one grouping by model, which the engines' per-model counters read too.
    events: EventBatch | None = None
    groups: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    # Offsets of events refused for want of a place (too_many_models), ascending, and
    # the models evicted while absorbing the batch (idle), in order.
    refused: list[int] = field(default_factory=list)
    refused_models: list[str] = field(default_factory=list)
    evicted: list[str] = field(default_factory=list)

    def per_model(self, after: int = -1) -> list[tuple[str, int, float]]:
        """(model, events, latest event time) of the absorbed events past offset
        ``after``, per model in order of first appearance.

        >>> from streamproc.core.contracts import InputEvent
        >>> pm = PartitionMonitors(DetectionConfig(), 0)
        >>> evs = [InputEvent("labels", o, m, None, f"e{o}", float(o), {"label": 1})
        ...        for o, m in enumerate("aba")]
        >>> pm.apply("labels", "labels", evs, 0.0).per_model(after=0)
        [('a', 1, 2.0), ('b', 1, 1.0)]
        """
        if self.events is None:
            return []
        offsets, ts = self.events.offsets, self.events.timestamps
        out: dict[str, list[float]] = {}
        for (model_id, _), rows in self.groups.items():
            kept = rows[offsets[rows] > after] if after >= 0 else rows
            if not len(kept):
                continue
            seen = out.setdefault(model_id, [0, -np.inf])
            seen[0] += len(kept)
            seen[1] = max(seen[1], float(ts[kept].max()))
        return [(model_id, int(n), latest) for model_id, (n, latest) in out.items()]


class PartitionMonitors:
    """Monitors of the models whose events land in one partition number.

    Examples
    --------
    >>> from streamproc.core.settings import MonitorSettings
    >>> pm = PartitionMonitors(DetectionConfig(MonitorSettings(reference_size=64)), 0)
    >>> def ev(o, x):
    ...     return InputEvent("features", o, "m", "1", f"e{o}", float(o), {"features": {"x": x}})
    >>> batch = [ev(o, float(o % 5)) for o in range(100)]
    >>> pm.apply("features", "features", batch, detected_at=0.0).alerts
    []
    >>> pm.apply("features", "features", batch[:10], detected_at=0.0).skipped  # redelivered
    10
    >>> pm.offsets, pm.observations("m")
    ({'features': 99}, {('feature', 'x'): 100})
    """

    def __init__(self, config: DetectionConfig, partition: int) -> None:
        self.config = config
        self.partition = partition
        self.offsets: dict[str, int] = {}
        self.models: OrderedDict[str, OrderedDict[str, ModelMonitor]] = OrderedDict()
        self.joins: dict[str, JoinBuffer] = {}
        self.places = ModelPlaces(config.places_per_partition, config.model_idle_seconds,
                                  config.listed_models)
        self.encoded = EncodedModels()  # what checkpoints re-encode: touched models only

    # -- routing ----------------------------------------------------------------------------
    def absorbed(self, kind: str) -> int:
        """Offset of the last event of ``kind`` this state includes (-1: none)."""
        return self.offsets.get(kind, -1)

    def first_unabsorbed(self, kind: str, offsets: Sequence[int] | np.ndarray) -> int:
        """Index of the first of ``offsets`` (ascending) that this state does not include
        yet: the messages before it are redeliveries, skipped. The one place that rule
        lives (engines call it before decoding; :meth:`apply` on what it is given).

        >>> PartitionMonitors(DetectionConfig(), 0).first_unabsorbed("features", [3, 4])
        0
        """
        return int(np.searchsorted(offsets, self.absorbed(kind), side="right"))

    def _model(self, model_id: str, version: str) -> ModelMonitor:
        self.encoded.touch(model_id)  # the one way to a model's monitors
        versions = self.models.get(model_id)
        if versions is None:
            versions = self.models[model_id] = OrderedDict()
        mm = versions.get(version)
        if mm is None:
            cfg = self.config
            mm = versions[version] = ModelMonitor(
                cfg.settings_for(model_id), model_id, version, cfg.max_features,
                cfg.task_for(model_id),
            )
            while len(versions) > cfg.max_versions:
                versions.popitem(last=False)
        else:
            versions.move_to_end(version)
        return mm

    def _join(self, model_id: str) -> JoinBuffer:
        self.encoded.touch(model_id)  # the one way to a model's label join
        jb = self.joins.get(model_id)
        if jb is None:
            cfg = self.config
            jb = self.joins[model_id] = JoinBuffer(
                cfg.join_max_predictions, cfg.join_max_labels, cfg.join_window_seconds
            )
        return jb

    def apply(
        self,
        kind: str,
        topic: str,
        events: list[InputEvent] | EventBatch,
        detected_at: float,
        last_offset: int | None = None,
    ) -> Applied:
        """Absorb valid events of one input topic, in offset order.

        ``last_offset`` is the offset of the last message of the batch, valid or not
        (rejected messages are absorbed too: they went to the dead-letter topic).
        """
        done = Applied()
        floor = self.absorbed(kind)
        batch = events if isinstance(events, EventBatch) else EventBatch.of(kind, events)
        fresh = batch.tail(self.first_unabsorbed(kind, batch.offsets))
        done.skipped = len(batch) - len(fresh)
        done.events = fresh
        if kind not in self._HANDLERS:
            raise InvalidSetting(f"unknown input kind {kind!r}")
        if len(fresh):
            segments = self.places.plan(fresh.model_ids, fresh.timestamps)
            handler = getattr(self, self._HANDLERS[kind])
            if len(segments) == 1 and not segments[0].evict and not segments[0].refused:
                done.groups = self._groups(fresh)  # the usual batch: no place taken or freed
                handler(fresh, done.groups, topic, detected_at, done)
            else:
                self._segments(fresh, segments, handler, topic, detected_at, done)
            floor = max(floor, int(fresh.offsets[-1]))
        if last_offset is not None:
            floor = max(floor, last_offset)
        if floor >= 0:
            self.offsets[kind] = floor
        done.alerts.sort(key=lambda a: a["source"]["offset"])
        return done

    _HANDLERS = {"features": "_features", "predictions": "_predictions", "labels": "_labels"}

    def _segments(self, fresh: EventBatch, segments: list[Any], handler: Any, topic: str,
                  now: float, done: Applied) -> None:
        """Absorb a batch segment by segment: evict, then absorb the rows with a place."""
        kept: list[np.ndarray] = []
        for seg in segments:
            for model_id in seg.evict:
                self.models.pop(model_id, None)
                self.joins.pop(model_id, None)
            done.evicted += seg.evict
            rows = np.arange(seg.start, seg.stop, dtype=np.int64)
            if seg.refused:
                rows = np.setdiff1d(rows, np.asarray(seg.refused, dtype=np.int64),
                                    assume_unique=True)
                done.refused += fresh.offsets[seg.refused].tolist()
                done.refused_models += [fresh.model_ids[r] for r in seg.refused]
            kept.append(rows)
            if len(rows):
                part = fresh.take(rows)
                handler(part, self._groups(part), topic, now, done)
        done.events = fresh.take(np.concatenate(kept))
        done.groups = self._groups(done.events) if len(done.events) else {}

    @staticmethod
    def _groups(events: EventBatch) -> dict[tuple[str, str], np.ndarray]:
        return group_rows(list(zip(events.model_ids, events.versions, strict=True)))

    def _emit(
        self,
        dets: list[Detection],
        mm: ModelMonitor,
        events: EventBatch,
        topic: str,
        detected_at: float,
        done: Applied,
    ) -> None:
        for d in dets:
            offset = int(events.offsets[d.source_row])
            if d.suppressed:
                done.suppressed.append((mm.model_id, d, offset))
                continue
            done.alerts.append(
                make_alert(d, mm.model_id, mm.model_version, topic, self.partition, offset,
                           detected_at)
            )

    def _features(self, events: EventBatch, groups: dict[tuple[str, str], np.ndarray],
                  topic: str, now: float, done: Applied) -> None:
        bodies = events.bodies
        for (model_id, version), rows in groups.items():
            mm = self._model(model_id, version)
            feats = [bodies[r]["features"] for r in rows.tolist()]
            dets = mm.observe_features(feats, events.timestamps[rows], rows,
                                       events.offsets[rows], bool(events.plain[rows].all()))
            self._emit(dets, mm, events, topic, now, done)

    def _predictions(self, events: EventBatch, groups: dict[tuple[str, str], np.ndarray],
                     topic: str, now: float, done: Applied) -> None:
        outcomes: dict[tuple[str, str], tuple[list[Outcome], list[int]]] = {}
        bodies = events.bodies
        for (model_id, version), rows in groups.items():
            mm = self._model(model_id, version)
            group = [bodies[r] for r in rows.tolist()]
            dets = mm.observe_predictions(
                [b["prediction"] for b in group], [b.get("scores") for b in group],
                events.timestamps[rows], rows, events.offsets[rows],
            )
            self._emit(dets, mm, events, topic, now, done)
        ts = events.timestamps.tolist()
        for row, (model_id, version, event_id, body) in enumerate(zip(
                events.model_ids, events.versions, events.event_ids, bodies, strict=True)):
            outcome = self._join(model_id).add_prediction(
                event_id, version, body["prediction"], ts[row], body.get("scores")
            )
            if outcome is not None:
                lists = outcomes.setdefault((model_id, outcome.model_version), ([], []))
                lists[0].append(outcome)
                lists[1].append(row)
        self._outcomes(outcomes, events, topic, now, done)

    def _labels(self, events: EventBatch, groups: dict[tuple[str, str], np.ndarray],
                topic: str, now: float, done: Applied) -> None:
        outcomes: dict[tuple[str, str], tuple[list[Outcome], list[int]]] = {}
        ts = events.timestamps.tolist()
        for row, (model_id, event_id, body) in enumerate(zip(
                events.model_ids, events.event_ids, events.bodies, strict=True)):
            outcome = self._join(model_id).add_label(event_id, body["label"], ts[row])
            if outcome is not None:
                lists = outcomes.setdefault((model_id, outcome.model_version), ([], []))
                lists[0].append(outcome)
                lists[1].append(row)
        self._outcomes(outcomes, events, topic, now, done)

    def _outcomes(
        self,
        outcomes: dict[tuple[str, str], tuple[list[Outcome], list[int]]],
        events: EventBatch,
        topic: str,
        now: float,
        done: Applied,
    ) -> None:
        for (model_id, version), (items, rows) in outcomes.items():
            mm = self._model(model_id, version)
            at = np.asarray(rows, dtype=np.int64)
            dets = mm.observe_outcomes(items, at, events.offsets[at])
            self._emit(dets, mm, events, topic, now, done)

    # -- views --------------------------------------------------------------------------------
    def active_versions(self) -> dict[str, ModelMonitor]:
        """Model id to its most recently seen version's monitors."""
        return {mid: next(reversed(v.values())) for mid, v in self.models.items() if v}

    def observations(self, model_id: str) -> dict[tuple[str, str], int]:
        """(signal, name) to events absorbed, summed over the model's monitored versions."""
        return _views(self.models.get(model_id, {}))[1]

    def monitor_views(self) -> list[tuple[str, MonitorView]]:
        """(model, view) of every monitor of each model's active version, its
        observations summed over the model's versions: what metrics show."""
        out: list[tuple[str, MonitorView]] = []
        for model_id, versions in self.models.items():
            views, totals = _views(versions)
            out += [(model_id, v._replace(observations=totals[(v.signal, v.name)]))
                    for v in views]
        return out

    def performance_views(self) -> list[tuple[str, str, PerformanceView]]:
        """(model, version, metric view) of every monitored version of a scored
        classifier: estimated performance with its interval, and realised beside it."""
        return [(model_id, version, v) for model_id, versions in self.models.items()
                for version, mm in versions.items() for v in mm.performance_views()]

    def join_counts(self) -> list[tuple[str, str, int]]:
        """(model, outcome, count) of every model's label join (see :mod:`.label_join`)."""
        return [(model_id, outcome, n) for model_id, jb in self.joins.items()
                for outcome, n in jb.counts().items()]

    # -- state ---------------------------------------------------------------------------------
    def to_state(self, encoded: bool = False) -> dict[str, Any]:
        """The unit's state as plain data; ``encoded``: each model's part as JSON already
        (``orjson.Fragment``), re-encoded only for models touched since the last such call
        (checkpoints: see :mod:`.encoded`). Both serialise to the same JSON."""
        if encoded:
            models, joins = self.encoded.fragments(self.models, self.joins)
        else:
            models = [mm.to_state() for v in self.models.values() for mm in v.values()]
            joins = {mid: jb.to_state() for mid, jb in self.joins.items()}
        return {
            "partition": self.partition,
            "offsets": dict(self.offsets),
            "models": models,
            "joins": joins,
            "places": self.places.to_state(),
        }

    @classmethod
    def from_state(cls, config: DetectionConfig, state: dict[str, Any]) -> PartitionMonitors:
        """The unit a snapshot's state describes; InvalidState (a SnapshotError) if the
        state is not one this streamproc can use, whatever is wrong with it."""
        try:
            return cls._from_state(config, state)
        except InvalidState:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise InvalidState(
                f"state snapshot is malformed ({exc!r}); restart the worker with "
                "--reset-state to rebuild state from the input topics"
            ) from None

    @classmethod
    def _from_state(cls, config: DetectionConfig, state: dict[str, Any]) -> PartitionMonitors:
        pm = cls(config, int(state["partition"]))
        pm.offsets = {str(k): int(v) for k, v in state["offsets"].items()}
        for ms in state["models"]:
            mid = str(ms["model_id"])
            mm = ModelMonitor.from_state(config.settings_for(mid), ms)
            pm.models.setdefault(mid, OrderedDict())[mm.model_version] = mm
        for mid, js in state["joins"].items():
            pm._join(str(mid)).load_state(js)
        pm.places.load_state(state.get("places"), [*pm.models, *pm.joins])
        return pm


def _views(versions: Mapping[str, ModelMonitor]) -> tuple[list[MonitorView],
                                                         dict[tuple[str, str], int]]:
    """The last (active) version's monitor views, and (signal, name) -> observations
    summed over all versions."""
    totals: dict[tuple[str, str], int] = {}
    views: list[MonitorView] = []
    for mm in versions.values():
        views = mm.monitor_views()
        for v in views:
            key = (v.signal, v.name)
            totals[key] = totals.get(key, 0) + v.observations
    return views, totals
