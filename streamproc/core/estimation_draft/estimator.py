"""Label-free performance estimation of a classifier, and a sequential test of its fall.

:class:`PerformanceEstimator` learns a calibration of the model's scores on the
reference's labelled predictions (:mod:`.calibrator`), then for every later
prediction computes its calibrated probabilities and its expected correctness
(``p`` for a predicted positive, ``1 - p`` for a predicted negative, the predicted
class's probability for a multiclass model). Two things follow:

* **Window estimates** (:meth:`PerformanceEstimator.estimate`): accuracy, precision,
  recall, F1 and ROC AUC over the last ``performance_window`` predictions with 95%
  intervals (:mod:`.window`). The window is a ring buffer of the raw scores and
  predictions (bounded state, independent of the reference size) and the estimate is
  recomputed on demand, O(window log window) plus the interval's simulations: for a
  scrape or an alert, not for every event. The default window, 2,000 predictions, is
  the project's reference size: the realised accuracy of 2,000 predictions has a
  sampling sd of ~0.005 at 0.95 and ~0.008 at 0.85, enough to read a change of a
  point or two, while a change still fills the window within minutes at production
  rates; the state is 16 KB per binary model.
* **The drop test** ``estimated_accuracy``: a one-sided CUSUM of block means (blocks
  of ``block_size`` predictions, 32: block means of a skewed 0-1 quantity need more
  than the numeric monitors' 16 to be near normal) of expected correctness, standardised
  by the reference's block means (:func:`~.reference.block_design`, inflated by their
  dependence across blocks where the reference shows it), tuned for a fall of
  ``target_drop`` (0.02) in accuracy. Its threshold is Siegmund's, averaged over the
  reference's sampling error (:func:`streamproc.core.calibration.cusum_threshold`), for
  ``arl_events`` predictions between false alarms, as every CUSUM of streamproc.

Alerts (:class:`PerformanceAlert`) carry the metric, the window's estimate and
interval, the reference's realised and estimated values, the onset and the estimated
accuracy since it. The CUSUM restarts after an alarm; cooldown and re-baselining are
the caller's policy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streamproc.core.calibration import cusum_threshold

from ._lindley import LindleyCusum, pack, quantize, unpack
from .reference import Calibration, block_design, block_scores
from .window import MetricEstimate, binary_metrics, multiclass_metrics, window_estimate

__all__ = ["PerformanceAlert", "PerformanceEstimator"]

PERFORMANCE_WINDOW = 2000
BLOCK_SIZE = 32
TARGET_DROP = 0.02


@dataclass(frozen=True)
class PerformanceAlert:
    """A detection of the drop test or of the calibration check (:mod:`.check`)."""

    detector: str
    position: int
    onset_position: int
    direction: str
    statistics: dict[str, Any] = field(default_factory=dict)


def _as_inputs(scores: Any, predictions: Any, binary: bool) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    if (s.ndim != 1) if binary else (s.ndim != 2):
        raise ValueError(f"scores of shape {s.shape}: a binary model gives one score per "
                         "prediction, a multiclass model one row of class scores")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite numbers: drop or repair the bad predictions")
    if predictions is None:
        pred = (s >= 0.5).astype(np.int64) if binary else s.argmax(axis=1)
    else:
        pred = np.asarray(predictions).astype(np.int64)
        if pred.shape != s.shape[:1]:
            raise ValueError(f"{len(pred)} predictions for {len(s)} score rows")
    return s, pred


class PerformanceEstimator:
    """Estimated performance of a classifier without labels, and its drop test.

    Examples
    --------
    >>> rng = np.random.default_rng(8)
    >>> s = rng.beta(0.6, 0.6, 20_000); y = (rng.random(20_000) < s).astype(int)
    >>> est = PerformanceEstimator.fit(s, y, arl_events=1e5)
    >>> round(est.reference["accuracy"], 3), round(est.reference_estimate["accuracy"], 3)
    (0.801, 0.801)
    >>> stable = rng.beta(0.6, 0.6, 30_000)
    >>> worse = rng.beta(1.5, 1.5, 10_000)  # scores nearer 0.5: less accurate
    >>> first = est.update(np.concatenate([stable, worse]))[0]
    >>> first.detector, first.position, first.onset_position, first.direction
    ('estimated_accuracy', 30111, 29984, 'down')
    >>> m = est.estimate()["accuracy"]  # the last 2,000 predictions
    >>> round(m.estimate, 3), round(m.lower, 3), round(m.upper, 3)
    (0.718, 0.699, 0.738)
    """

    def __init__(self, calibration: Calibration, reference: dict[str, float],
                 reference_estimate: dict[str, float], design: dict[str, Any],
                 arl_events: float = 1e5, performance_window: int = PERFORMANCE_WINDOW,
                 block_size: int = BLOCK_SIZE, target_drop: float = TARGET_DROP) -> None:
        if performance_window < 100:
            raise ValueError(f"performance_window must be at least 100, got "
                             f"{performance_window!r}")
        if not 0 < target_drop < 1:
            raise ValueError(f"target_drop is a fall of accuracy in (0, 1), got {target_drop!r}")
        self.calibration = calibration
        self.reference = reference
        self.reference_estimate = reference_estimate
        self.design = design
        self.performance_window = int(performance_window)
        self.block_size = int(block_size)
        self.target_drop = float(target_drop)
        # In block-score units, capped at 0.5 (a CUSUM tuned for shifts of 1 sd of block
        # means): a larger allowance makes the threshold small and the false-alarm rate
        # then depends on the tail of single blocks, which the scores only approximate.
        self.allowance = min(0.5 * self.target_drop / design["scale"], 0.5)
        self.calibrate(arl_events)
        width = () if calibration.binary else (len(calibration.calibrators),)
        self._scores = np.zeros((0, *width))
        self._pred = np.zeros(0, dtype=np.int64)
        self._carry = np.zeros(0)  # expected correctness of an unfilled block
        self._carry_pos = np.zeros(0, dtype=np.int64)
        self._onset_pos = -1
        self.n = 0

    # -- learning --------------------------------------------------------------------------
    @classmethod
    def fit(cls, scores: Any, labels: Any, predictions: Any = None, *, arl_events: float = 1e5,
            performance_window: int = PERFORMANCE_WINDOW, block_size: int = BLOCK_SIZE,
            target_drop: float = TARGET_DROP, seed: int = 0) -> PerformanceEstimator:
        """Learn from the reference: scores (``(n,)`` positive-class probabilities, or
        ``(n, C)`` class scores), true labels (0/1 or class indices) and, optionally,
        the model's own predictions (default: threshold 0.5, or the top class), in time
        order."""
        s = np.asarray(scores, dtype=np.float64)
        s, pred = _as_inputs(s, predictions, s.ndim == 1)
        y = np.asarray(labels).astype(np.int64)
        if y.shape != pred.shape:
            raise ValueError(f"{len(y)} labels for {len(pred)} reference predictions")
        calibration, oof = Calibration.fit(s, y, seed)
        metrics = binary_metrics if s.ndim == 1 else multiclass_metrics
        truth = y.astype(np.float64) if s.ndim == 1 else np.eye(s.shape[1])[y]
        realised = {k: float(v[0]) for k, v in metrics(s, pred, truth[None]).items()}
        estimated = {k: float(v[0]) for k, v in metrics(s, pred, oof[None]).items()}
        c = calibration.correctness(calibration.probabilities(s), pred)
        design = block_design(c, block_size)
        return cls(calibration, realised, estimated, design, arl_events, performance_window,
                   block_size, target_drop)

    def calibrate(self, arl_events: float) -> None:
        """Give the drop test ``arl_events`` predictions between false alarms."""
        self.arl_events = float(arl_events)
        h = cusum_threshold(self.arl_events / self.block_size, self.allowance, sides=1,
                            mean_se=self.design["mean_se"], scale_se=self.design["scale_se"])
        old = getattr(self, "_cusum", None)
        self._cusum = LindleyCusum(h)
        if old is not None:
            self._cusum._s, self._cusum._n, self._cusum._start = old._s, old._n, old._start

    # -- streaming -------------------------------------------------------------------------
    def update(self, scores: Any, predictions: Any = None,
               positions: Any = None) -> list[PerformanceAlert]:
        """Feed predictions (in stream order) with their event positions (default: a
        count from 0); return the drop test's alerts."""
        s, pred = _as_inputs(scores, predictions, self.calibration.binary)
        n = len(s)
        pos = (np.arange(self.n, self.n + n, dtype=np.int64) if positions is None
               else np.asarray(positions, dtype=np.int64))
        c = self.calibration.correctness(self.calibration.probabilities(s), pred)
        vals = np.concatenate([self._carry, c])
        vpos = np.concatenate([self._carry_pos, pos])
        b = self.block_size
        full = len(vals) // b
        alerts: list[PerformanceAlert] = []
        if full:
            means = vals[: full * b].reshape(full, b).mean(axis=1)
            z = block_scores(means, self.design)
            base = self._cusum.n
            first_pos = vpos[: full * b : b]
            for j, onset, m in self._cusum.feed(quantize(-z - self.allowance)):
                start = int(first_pos[onset - base]) if onset >= base else self._onset_pos
                end = j * b + b - 1 - len(self._carry)  # index in this batch
                alerts.append(self._alert(s, pred, end, int(vpos[j * b + b - 1]), start, m))
            onset = self._cusum.onset
            if onset is None:
                self._onset_pos = -1  # no excursion: nothing to remember (same state)
            elif onset >= base:
                self._onset_pos = int(first_pos[onset - base])
        self._carry, self._carry_pos = vals[full * b:], vpos[full * b:]
        self._push(s, pred)
        self.n += n
        return alerts

    def _push(self, s: np.ndarray, pred: np.ndarray) -> None:
        w = self.performance_window
        self._scores = np.concatenate([self._scores, s[-w:]])[-w:]
        self._pred = np.concatenate([self._pred, pred[-w:]])[-w:]

    def _alert(self, s: np.ndarray, pred: np.ndarray, end: int, position: int, onset: int,
               mean_increment: float) -> PerformanceAlert:
        w = self.performance_window
        win_s = np.concatenate([self._scores, s[max(0, end + 1 - w): end + 1]])[-w:]
        win_p = np.concatenate([self._pred, pred[max(0, end + 1 - w): end + 1]])[-w:]
        metrics = self._estimate(win_s, win_p, self.n + end + 1)
        acc = metrics["accuracy"]
        since = self.design["mean"] - self.design["scale"] * math.sqrt(self.design["vif"]) * (
            mean_increment + self.allowance)
        stats = {**acc.as_dict(), "window": len(win_s), "accuracy_since_onset": since,
                 "threshold": self._cusum.threshold,
                 "target_drop": self.target_drop, "arl_events": self.arl_events,
                 "metrics": {k: v.as_dict() for k, v in metrics.items()}}
        return PerformanceAlert("estimated_accuracy", position, onset, "down", stats)

    # -- views -----------------------------------------------------------------------------
    def _estimate(self, s: np.ndarray, pred: np.ndarray, seed: int) -> dict[str, MetricEstimate]:
        cal = self.calibration
        return window_estimate(s, pred, cal.probabilities(s), cal.replicated(s),
                               self.reference, self.reference_estimate, seed)

    def estimate(self) -> dict[str, MetricEstimate]:
        """Every metric over the last ``performance_window`` predictions (empty before
        the first); the simulations are seeded by the count of predictions seen."""
        if len(self._pred) == 0:
            return {}
        return self._estimate(self._scores, self._pred, self.n)

    @property
    def statistic(self) -> float:
        """The drop test's statistic over its threshold (1.0 alarms)."""
        return self._cusum.statistic / self._cusum.threshold

    # -- state -----------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {"calibration": self.calibration.to_state(), "reference": self.reference,
                "reference_estimate": self.reference_estimate, "design": self.design,
                "settings": [self.arl_events, self.performance_window, self.block_size,
                             self.target_drop],
                "cusum": self._cusum.to_state(), "scores": pack(self._scores.ravel()),
                "pred": pack(self._pred, "<i8"), "carry": pack(self._carry),
                "carry_pos": pack(self._carry_pos, "<i8"), "i": [self._onset_pos, self.n]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PerformanceEstimator:
        arl, window, block, drop = state["settings"]
        est = cls(Calibration.from_state(state["calibration"]),
                  {k: float(v) for k, v in state["reference"].items()},
                  {k: float(v) for k, v in state["reference_estimate"].items()},
                  {k: (v if k == "knots" else float(v)) for k, v in state["design"].items()},
                  float(arl), int(window), int(block), float(drop))
        est._cusum = LindleyCusum.from_state(state["cusum"])
        width = () if est.calibration.binary else (len(est.calibration.calibrators),)
        est._scores = unpack(state["scores"]).reshape(-1, *width)
        est._pred = unpack(state["pred"], "<i8")
        est._carry, est._carry_pos = unpack(state["carry"]), unpack(state["carry_pos"], "<i8")
        est._onset_pos, est.n = (int(v) for v in state["i"])
        if len(est._pred) != len(est._scores) or len(est._pred) > est.performance_window:
            raise ValueError("estimator state: window scores and predictions do not match")
        if len(est._carry) >= est.block_size or len(est._carry) != len(est._carry_pos):
            raise ValueError("estimator state: a carry longer than a block")
        return est

