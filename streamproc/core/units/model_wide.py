"""The monitors of a whole model version, beside its per-signal ones.

Two monitors read more than one signal: the estimation monitor of a classifier that
sends class scores (:class:`~streamproc.core.monitors.EstimationMonitor`: its scores,
then its labels) and the joint monitor of two or more numeric features
(:class:`~streamproc.core.monitors.JointMonitor`). :class:`ModelWide` creates them
when a model's events call for them (and its settings allow), feeds them from the
model's batches and saves them; :class:`~.model.ModelMonitor` counts them in its
budget groups: the joint monitor in ``features`` (created and fed by feature events
only), the estimation monitor in ``predictions`` (created by the first scored
prediction: its share of the budget never depends on which topic was read first).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from ..contracts import Detection
from ..monitors import (
    EstimationMonitor,
    JointMonitor,
    Monitor,
    MonitorView,
    as_matrix,
    layout_of,
    select_features,
)
from ..settings import MonitorSettings
from .feature import FeatureMonitor
from .label_join import Outcome

__all__ = ["ModelWide", "PerformanceView"]


class PerformanceView(NamedTuple):
    """One metric of a model version's estimated performance, for metrics."""

    metric: str
    estimate: float | None
    lower: float | None
    upper: float | None
    realised: float | None  # over the last performance_window labelled predictions


class ModelWide:
    """The estimation and joint monitors of one model version (either may be None)."""

    def __init__(self, settings: MonitorSettings) -> None:
        self.settings = settings
        self.estimation: EstimationMonitor | None = None
        self.joint: JointMonitor | None = None

    # -- discovery -----------------------------------------------------------------------
    def discover_joint(self, features: dict[str, FeatureMonitor]) -> bool:
        """Create the joint monitor once two numeric features are known: True if made.
        Its features are fixed then (numeric features discovered later are not added)."""
        if self.joint is not None or not self.settings.multivariate:
            return False
        numeric = [name for name, fm in features.items() if fm.kind == "numeric"]
        if len(numeric) < 2:
            return False
        self.joint = JointMonitor(self.settings, select_features(numeric),
                                  self.settings.multivariate_marginals)
        return True

    def discover_estimation(self, scores: Sequence[dict[str, Any] | None], task: str) -> bool:
        """Create the estimation monitor at the first prediction with two or more class
        scores (not for a declared regression): True if made."""
        if self.estimation is not None or not self.settings.estimation or task == "regression":
            return False
        layout = layout_of(scores)
        if layout is None:
            return False
        self.estimation = EstimationMonitor(self.settings, layout,
                                            self.settings.performance_window)
        return True

    # -- feeding -------------------------------------------------------------------------
    def features(self, columns: dict[str, Sequence[Any]] | None,
                 features: Sequence[dict[str, Any]], pos: np.ndarray, ts: np.ndarray,
                 off: np.ndarray | None) -> list[Detection]:
        if self.joint is None:
            return []
        names = self.joint.features
        cols = [columns[n] if columns is not None and n in columns
                else [f.get(n) for f in features] for n in names]
        return self.joint.update(as_matrix(cols), pos, ts, off)

    def predictions(self, predictions: Sequence[Any], scores: Sequence[dict[str, Any] | None],
                    pos: np.ndarray, ts: np.ndarray) -> list[Detection]:
        if self.estimation is None:
            return []
        s, pred, ok = self.estimation.layout.arrays(scores, predictions)
        return self.estimation.update_predictions(s, pred, pos[ok], ts[ok])

    def outcomes(self, outcomes: Sequence[Outcome], pos: np.ndarray, ts: np.ndarray,
                 off: np.ndarray | None) -> list[Detection]:
        est = self.estimation
        if est is None:
            return []
        layout = est.layout
        s, pred, ok = layout.arrays([o.scores for o in outcomes],
                                    [o.prediction for o in outcomes])
        labels = np.fromiter((layout.index(o.label) for o, keep in zip(outcomes, ok, strict=True)
                              if keep), dtype=np.int64, count=int(ok.sum()))
        return est.update_labelled(s, pred, labels, pos[ok], ts[ok],
                                   None if off is None else off[ok])

    # -- views and state -----------------------------------------------------------------
    def groups(self) -> dict[str, list[Monitor]]:
        return {"features": [] if self.joint is None else [self.joint],
                "predictions": [] if self.estimation is None else [self.estimation]}

    def views(self) -> list[MonitorView]:
        out = []
        if self.estimation is not None:
            out.append(self.estimation.view("estimated_performance", "accuracy"))
        if self.joint is not None:
            out.append(self.joint.view("multivariate", ",".join(self.joint.features)))
        return out

    def performance(self) -> list[PerformanceView]:
        """Estimated (with interval) and realised metrics, once the calibration is
        learnt (empty before, and for a model without scores)."""
        est = self.estimation
        if est is None or est.learning:
            return []
        realised = est.realised()
        rows = [PerformanceView(k, _finite(m.estimate), _finite(m.lower), _finite(m.upper),
                                realised.get(k)) for k, m in est.estimates().items()]
        have = {r.metric for r in rows}
        rows += [PerformanceView(k, None, None, None, v) for k, v in realised.items()
                 if k not in have]
        return rows

    def to_state(self) -> dict[str, Any]:
        return {"estimation": None if self.estimation is None else self.estimation.to_state(),
                "joint": None if self.joint is None else self.joint.to_state()}

    @classmethod
    def from_state(cls, settings: MonitorSettings, state: dict[str, Any] | None) -> ModelWide:
        wide = cls(settings)
        if state is None:  # a snapshot from before these monitors
            return wide
        if state["estimation"] is not None:
            wide.estimation = EstimationMonitor.from_state(settings, state["estimation"])
        if state["joint"] is not None:
            wide.joint = JointMonitor.from_state(settings, state["joint"])
        return wide


def _finite(x: float) -> float | None:
    return x if np.isfinite(x) else None
