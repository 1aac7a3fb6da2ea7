"""All monitors of one model version, and the split of its false-alarm budget."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

from ..contracts import Detection
from ..errors import InvalidSetting
from ..monitors import Monitor, MonitorView, NumericMonitor, RateMonitor
from ..settings import MonitorSettings
from .feature import FeatureMonitor, kind_of
from .label_join import Outcome, is_number
from .model_wide import ModelWide, PerformanceView

__all__ = ["ModelMonitor", "task_of"]

PREDICTION = "prediction"


def _columns(features: Sequence[dict[str, Any]]) -> dict[str, tuple[Any, ...]] | None:
    """Feature name -> its values, when every event has the same features (a serving
    layer's usual events): one transposition in C instead of a lookup per value.
    None otherwise."""
    if not features:
        return None
    keys = tuple(features[0])
    width = len(keys)
    if width == 0 or max(map(len, features)) != width or min(map(len, features)) != width:
        return None
    try:
        rows = list(map(itemgetter(*keys), features))
    except KeyError:  # same count, other names
        return None
    if width == 1:
        return {keys[0]: tuple(rows)}
    return dict(zip(keys, zip(*rows, strict=True), strict=True))


def task_of(prediction: Any, label: Any) -> str:
    """Classification unless both sides are numbers and one of them is fractional.

    JSON integers on both sides (0/1 classes) count as classification.

    >>> task_of("cat", "dog"), task_of(1, 0), task_of(2.5, 3), task_of(True, 1)
    ('classification', 'classification', 'regression', 'classification')
    """
    numbers = is_number(prediction) and is_number(label)
    if numbers and (isinstance(prediction, float) or isinstance(label, float)):
        return "regression"
    return "classification"


class ModelMonitor:
    """Monitors of one (model_id, model_version), discovered from its events.

    Every detector of the model shares the budget (see
    :class:`~streamproc.core.calibration.FalseAlarmBudget`); when a feature is
    discovered, the split is recomputed within its signal group.

    Examples
    --------
    >>> settings = MonitorSettings(reference_size=200)
    >>> mm = ModelMonitor(settings, "churn", "v1")
    >>> rng = np.random.default_rng(4)
    >>> feats = [{"age": float(a), "plan": "pro"} for a in rng.normal(40, 5, 2000)]
    >>> feats += [{"age": float(a), "plan": "pro"} for a in rng.normal(46, 5, 500)]
    >>> dets = mm.observe_features(feats, np.arange(2500.0), np.arange(2500))
    >>> [(d.feature, d.detector, d.position) for d in dets]
    [('age', 'cusum', 2087)]
    >>> mm.n_detectors
    10
    """

    def __init__(
        self,
        settings: MonitorSettings,
        model_id: str,
        model_version: str,
        max_features: int = 1000,
        task: str = "auto",
    ) -> None:
        if task not in ("auto", "classification", "regression"):
            raise InvalidSetting(f"task must be auto, classification or regression, got {task!r}")
        self.settings = settings
        self.model_id = model_id
        self.model_version = model_version
        self.max_features = max_features
        self.task = task
        self.features: dict[str, FeatureMonitor] = {}
        self.predictions: dict[str, FeatureMonitor] = {}  # "prediction" and "score:<class>"
        self.performance: NumericMonitor | RateMonitor | None = None
        self.wide = ModelWide(settings)  # estimation and joint monitors
        self.n_feature_events = 0
        self.n_prediction_events = 0
        self.n_outcomes = 0
        self.ignored_features = 0

    # -- budget ----------------------------------------------------------------------------
    def _monitors(self) -> list[Monitor]:
        monitors: list[Monitor] = [*self.features.values(), *self.predictions.values()]
        if self.performance is not None:
            monitors.append(self.performance)
        return monitors + [m for ms in self.wide.groups().values() for m in ms]

    @property
    def n_detectors(self) -> int:
        return sum(m.n_detectors for m in self._monitors())

    @property
    def task_kind(self) -> str | None:
        """``classification`` or ``regression`` once outcomes arrived (None before)."""
        if self.performance is None:
            return None
        return "regression" if isinstance(self.performance, NumericMonitor) else "classification"

    def _groups(self) -> dict[str, list[Monitor]]:
        wide = self.wide.groups()
        return {
            "features": [*self.features.values(), *wide["features"]],
            "predictions": [*self.predictions.values(), *wide["predictions"]],
            "performance": [] if self.performance is None else [self.performance],
        }

    def recalibrate(self, group: str | None = None) -> None:
        """Re-split the budget over a group's detectors (all groups if None)."""
        budget = self.settings.budget
        for name, monitors in self._groups().items():
            if group is not None and name != group:
                continue
            total = sum(m.n_detectors for m in monitors)
            for monitor in monitors:
                monitor.calibrate(budget.detector_events(total, monitor.n_detectors, name))

    def _positions(self, counter: str, n: int) -> tuple[int, np.ndarray]:
        """Advance one of the event counters by n; return its old value and the positions."""
        base = getattr(self, counter)
        setattr(self, counter, base + n)
        return base, np.arange(base, base + n, dtype=np.int64)

    # -- features ---------------------------------------------------------------------------
    def observe_features(
        self, features: Sequence[dict[str, Any]], ts: np.ndarray, rows: np.ndarray,
        off: np.ndarray | None = None, plain: bool = False,
    ) -> list[Detection]:
        """Feed feature objects (one per event) with event times and batch rows (and
        source offsets, for the provenance of references). ``plain``: no boolean in
        any of them (numeric columns then convert to floats at once)."""
        base, pos = self._positions("n_feature_events", len(features))
        columns = _columns(features)
        added = False
        # Every event's names, in order of appearance (the columns' when all are alike).
        names = columns if columns is not None else dict.fromkeys(chain.from_iterable(features))
        for name in names:
            if name in self.features:
                continue
            if len(self.features) >= self.max_features:
                self.ignored_features += 1
                continue
            kind = next((k for k in (kind_of(f.get(name)) for f in features) if k), None)
            if kind is not None:
                self.features[name] = FeatureMonitor(self.settings, name, kind)
                added = True
        if self.wide.discover_joint(self.features) or added:
            self.recalibrate("features")
        out: list[Detection] = []
        for name, monitor in self.features.items():
            column = columns.get(name) if columns is not None else None
            if column is None:
                out += monitor.update([f.get(name) for f in features], pos, ts, off)
            else:
                out += monitor.update(column, pos, ts, off, plain)
        out += self.wide.features(columns, features, pos, ts, off)
        return self._finish(out, base, rows)

    # -- predictions ------------------------------------------------------------------------
    def observe_predictions(
        self,
        predictions: Sequence[Any],
        scores: Sequence[dict[str, float] | None],
        ts: np.ndarray,
        rows: np.ndarray,
        off: np.ndarray | None = None,
    ) -> list[Detection]:
        """Feed predictions (and optional class scores) with event times and batch rows."""
        base, pos = self._positions("n_prediction_events", len(predictions))
        added = False
        if PREDICTION not in self.predictions:
            kind = next((k for k in map(kind_of, predictions) if k), None)
            if kind is not None:
                self.predictions[PREDICTION] = FeatureMonitor(
                    self.settings, PREDICTION, kind, signal="prediction", quality=False
                )
                added = True
        with_scores = [s for s in scores if s]
        classes = dict.fromkeys(chain.from_iterable(with_scores)) if with_scores else {}
        for cls in classes:
            key = f"score:{cls}"
            if key not in self.predictions and len(self.predictions) <= self.max_features:
                self.predictions[key] = FeatureMonitor(
                    self.settings, key, "numeric", signal="prediction", quality=False, label=key
                )
                added = True
        if self.wide.discover_estimation(scores, self.task) or added:
            self.recalibrate("predictions")
        out: list[Detection] = []
        for key, monitor in self.predictions.items():
            if key == PREDICTION:
                column = list(predictions)
            else:
                cls = key[len("score:") :]
                column = [s.get(cls) if s else None for s in scores]
            out += monitor.update(column, pos, ts, off)
        out += self.wide.predictions(predictions, scores, pos, ts)
        return self._finish(out, base, rows)

    # -- performance ------------------------------------------------------------------------
    def observe_outcomes(
        self, outcomes: Sequence[Outcome], rows: np.ndarray, off: np.ndarray | None = None
    ) -> list[Detection]:
        """Feed joined (prediction, label) pairs; rows are the completing events' rows."""
        if not outcomes:
            return []
        n = len(outcomes)
        base, pos = self._positions("n_outcomes", n)
        ts = np.fromiter((o.timestamp for o in outcomes), dtype=np.float64, count=n)
        if self.performance is None:
            first = outcomes[0]
            task = self.task if self.task != "auto" else task_of(first.prediction, first.label)
            if task == "regression":
                self.performance = NumericMonitor(self.settings, "performance", "abs_error")
            else:
                self.performance = RateMonitor(self.settings, "performance", None, "error_rate")
            self.recalibrate("performance")
        if isinstance(self.performance, NumericMonitor):
            errors = np.fromiter((o.error(regression=True) for o in outcomes),
                                 dtype=np.float64, count=n)
            ok = np.isfinite(errors)
            dets = self.performance.update(errors[ok], pos[ok], ts[ok],
                                           None if off is None else off[ok])
        else:
            wrong = np.fromiter((o.error(regression=False) == 1.0 for o in outcomes),
                                dtype=bool, count=n)
            dets = self.performance.update(wrong, pos, ts, off)
        dets += self.wide.outcomes(outcomes, pos, ts, off)
        return self._finish(dets, base, rows)

    @staticmethod
    def _finish(dets: list[Detection], base: int, rows: np.ndarray) -> list[Detection]:
        for d in dets:
            d.source_row = int(rows[d.position - base])
        dets.sort(key=lambda d: d.position)
        return dets

    # -- views and state ---------------------------------------------------------------------
    def monitor_views(self) -> list[MonitorView]:
        """One view per value monitor (features, predictions, performance), for metrics."""
        views = [fm.view("feature", name) for name, fm in self.features.items()]
        views += [fm.view("prediction", key) for key, fm in self.predictions.items()]
        if self.performance is not None:
            name = "abs_error" if isinstance(self.performance, NumericMonitor) else "error_rate"
            views.append(self.performance.view("performance", name))
        return views + self.wide.views()

    def performance_views(self) -> list[PerformanceView]:
        """Estimated and realised metrics of a scored classifier (empty otherwise)."""
        return self.wide.performance()

    def to_state(self) -> dict[str, Any]:
        perf = self.performance
        return {
            "model_id": self.model_id,
            "model_version": self.model_version,
            "task": self.task,
            "max_features": self.max_features,
            "features": [fm.to_state() for fm in self.features.values()],
            "predictions": [fm.to_state() for fm in self.predictions.values()],
            "performance": None
            if perf is None
            else {
                "kind": "numeric" if isinstance(perf, NumericMonitor) else "rate",
                "state": perf.to_state(),
            },
            "n": [self.n_feature_events, self.n_prediction_events, self.n_outcomes,
                  self.ignored_features],
            "wide": self.wide.to_state(),
        }

    @classmethod
    def from_state(cls, settings: MonitorSettings, state: dict[str, Any]) -> ModelMonitor:
        mm = cls(
            settings,
            str(state["model_id"]),
            str(state["model_version"]),
            int(state["max_features"]),
            str(state["task"]),
        )
        for fs in state["features"]:
            fm = FeatureMonitor.from_state(settings, fs)
            mm.features[fm.name] = fm
        for fs in state["predictions"]:
            fm = FeatureMonitor.from_state(settings, fs)
            mm.predictions[fm.name] = fm
        perf = state["performance"]
        if perf is not None:
            if perf["kind"] == "numeric":
                mm.performance = NumericMonitor(settings, "performance", "abs_error")
            else:
                mm.performance = RateMonitor(settings, "performance", None, "error_rate")
            mm.performance.load_state(perf["state"])
        counts = [int(v) for v in state["n"]]
        mm.n_feature_events, mm.n_prediction_events, mm.n_outcomes, mm.ignored_features = counts
        mm.wide = ModelWide.from_state(settings, state.get("wide"))
        mm.recalibrate()  # the budget in force now applies to restored monitors
        return mm
