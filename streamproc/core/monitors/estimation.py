"""Monitor of a scored classifier's performance without labels, and of its calibration.

A classifier that sends class ``scores`` is watched beyond its error rate:

* **Reference.** Its first labelled predictions (``reference_size``, at least 128
  blocks of 32: 4,096) teach the score calibration
  (:class:`~streamproc.core.stats.ClassCalibration`, out of fold, with bootstrap
  replicate maps for its own error), the reference's realised and estimated metrics and
  the block design of expected correctness (:func:`~streamproc.core.stats.correctness_design`).
* **Estimates.** Over the last ``performance_window`` predictions, labelled or not:
  accuracy, precision, recall, F1 and ROC AUC with 95% intervals
  (:func:`~streamproc.core.stats.window_estimate`), computed on demand (a scrape, an
  alert) from a ring of raw scores; beside them, where labels arrived, the realised
  metrics of the last ``performance_window`` labelled predictions.
* **Detectors.** ``estimated_accuracy`` reads block means of every later prediction's
  expected correctness (alerts with signal ``estimated_performance``, feature
  ``accuracy``); ``calibration_check`` reads every later labelled prediction, realised
  beside expected correctness (signal ``performance``, no feature: the calibration no
  longer holds). After a drop alert the test restarts against the same calibration
  (relearning it from labels would hide the change; the cooldown keeps one alert per
  episode); after a calibration alert the calibration is dropped, and the next
  labelled predictions teach a new one: until then there is no estimate to trust.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..calibration import logit
from ..contracts import Detection
from ..detectors import (
    BLOCK_SIZE,
    TARGET_DROP,
    CorrectnessBlocks,
    Detector,
    FitContext,
    LabelledItems,
    TagView,
    build,
    detector_class,
)
from ..settings import MonitorSettings
from ..snapshot_arrays import pack, unpack
from ..stats import (
    MIN_DESIGN_BLOCKS,
    ClassCalibration,
    MetricEstimate,
    binary_metrics,
    correctness_design,
    correctness_scores,
    multiclass_metrics,
    window_estimate,
)
from .alarms import apply_cooldown, make_detection
from .contract import Monitor
from .estimation_window import Ring, ScoreLayout, extend_span, finite, layout_of, truth_rows
from .race import race

__all__ = ["EstimationMonitor", "layout_of"]

DETECTORS = ("estimated_accuracy", "calibration_check")
# The labelled reference holds at least this many blocks (4,096 predictions): the drop
# test's threshold averages over the reference's sampling error (1 / sqrt(blocks) in
# score units), and with the bare minimum of 32 blocks it is some 3 times as high.
REFERENCE_BLOCKS = 4 * MIN_DESIGN_BLOCKS
_SKETCH = 64  # quantiles of the reference's expected correctness (the check's threshold)


class EstimationMonitor(Monitor):
    """Estimated performance, its drop test and the calibration check of one model.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> mon = EstimationMonitor(MonitorSettings(reference_size=2000), ScoreLayout.discover(
    ...     {"0": 0.5, "1": 0.5}), performance_window=2000)
    >>> mon.calibrate(1e5)
    >>> p = rng.beta(0.6, 0.6, 5000); y = (rng.random(5000) < p).astype(int)
    >>> pos = np.arange(5000); ts = pos * 1.0
    >>> mon.update_predictions(p, (p >= 0.5).astype(int), pos, ts)  # labels come later
    []
    >>> mon.update_labelled(p, (p >= 0.5).astype(int), y, pos, ts)
    []
    >>> mon.learning, round(mon.estimates()["accuracy"].estimate, 2)
    (False, 0.81)
    >>> worse = rng.beta(1.5, 1.5, 6000)  # scores nearer 0.5: less accurate
    >>> later = np.arange(5000, 11_000)
    >>> d = mon.update_predictions(worse, (worse >= 0.5).astype(int), later, later * 1.0)[0]
    >>> d.signal, d.feature, d.detector, d.direction
    ('estimated_performance', 'accuracy', 'estimated_accuracy', 'down')
    >>> d.position, round(d.statistics['estimate'], 2)
    (5127, 0.8)
    """

    def __init__(self, settings: MonitorSettings, layout: ScoreLayout,
                 performance_window: int) -> None:
        self.settings = settings
        self.layout = layout
        self.performance_window = int(performance_window)
        self._arl = float(settings.budget.events)
        self.reference_n = max(settings.reference_size, REFERENCE_BLOCKS * BLOCK_SIZE)
        self._ref: list[list[np.ndarray]] = [[], [], []]  # scores, predicted, labels
        self.span: dict[str, Any] = {}  # positions, times and offsets of the reference
        self.calibration: ClassCalibration | None = None
        self.reference: dict[str, float] = {}  # realised metrics of the reference
        self.reference_estimate: dict[str, float] = {}  # its out-of-fold estimates
        self.design: dict[str, Any] = {}
        self.window = Ring(performance_window, layout.width, labelled=False)
        self.labelled = Ring(performance_window, layout.width, labelled=True)
        self._dets: dict[str, Detector] = {}
        self._carry: list[Any] = [np.zeros(0), np.zeros(0, np.int64), np.zeros(0)]
        self._last_alert: dict[str, list[int]] = {}
        self._cache: tuple[int, dict[str, MetricEstimate]] | None = None
        self._detectable_from: int | None = None
        self.n = 0  # predictions seen
        self.n_labelled = 0
        self.detections = 0

    # -- the Monitor face ----------------------------------------------------------------
    @property
    def detector_names(self) -> list[str]:
        return list(DETECTORS)

    @property
    def n_detectors(self) -> int:
        return len(DETECTORS)

    def calibrate(self, arl_events: float) -> None:
        self._arl = float(arl_events)
        for det in self._dets.values():
            det.calibrate(self._arl)

    @property
    def learning(self) -> bool:
        return self.calibration is None

    @property
    def dependence(self) -> float | None:
        return None if self.learning else float(self.design["vif"])

    @property
    def observations(self) -> int:
        return self.n

    def scores(self) -> dict[str, float]:
        return {k: s for k, d in self._dets.items() if (s := d.score) is not None}

    @property
    def current_mean(self) -> float | None:
        est = self.estimates().get("accuracy")
        return None if est is None else est.estimate

    @property
    def reference_mean(self) -> float | None:
        return self.reference.get("accuracy")

    # -- estimates -----------------------------------------------------------------------
    def _estimate(self, s: np.ndarray, pred: np.ndarray, seed: int
                  ) -> dict[str, MetricEstimate]:
        cal = self.calibration
        assert cal is not None
        return window_estimate(s, pred, cal.probabilities(s), cal.replicated(s),
                               self.reference, self.reference_estimate, seed)

    def estimates(self) -> dict[str, MetricEstimate]:
        """Every metric over the last ``performance_window`` predictions with its 95%
        interval (empty while learning); the simulations are seeded by the count of
        predictions seen, so the same stream gives the same figures."""
        if self.calibration is None or not len(self.window):
            return {}
        if self._cache is None or self._cache[0] != self.n:
            self._cache = (self.n, self._estimate(self.window.scores, self.window.pred, self.n))
        return self._cache[1]

    def realised(self) -> dict[str, float]:
        """Realised metrics of the last ``performance_window`` labelled predictions."""
        if not len(self.labelled):
            return {}
        ring = self.labelled
        metrics = binary_metrics if self.layout.binary else multiclass_metrics
        out = metrics(ring.scores, ring.pred, truth_rows(self.layout, ring.truth))
        return {k: v for k, m in out.items() if (v := finite(float(m[0]))) is not None}

    # -- predictions: the drop test ------------------------------------------------------
    def update_predictions(self, s: np.ndarray, pred: np.ndarray, pos: np.ndarray,
                           ts: np.ndarray) -> list[Detection]:
        """Feed usable predictions (see :meth:`ScoreLayout.arrays`) in stream order."""
        out: list[Detection] = []
        if len(pred) and self.calibration is not None:
            self._test_blocks(s, pred, pos, ts, out)
        self.window.push(s, pred)
        self.n += len(pred)
        return out

    def _test_blocks(self, s: np.ndarray, pred: np.ndarray, pos: np.ndarray, ts: np.ndarray,
                     out: list[Detection]) -> None:
        cal = self.calibration
        assert cal is not None
        c = cal.correctness(cal.probabilities(s), pred)
        cc, cpos, cts = self._carry
        vals = np.concatenate([cc, c])
        vpos = np.concatenate([cpos, pos]).astype(np.int64)
        vts = np.concatenate([cts, ts])
        b, carried = BLOCK_SIZE, len(cc)
        full = len(vals) // b
        self._carry = [vals[full * b:], vpos[full * b:], vts[full * b:]]
        if not full:
            return
        means = vals[: full * b].reshape(full, b).mean(axis=1)
        z = correctness_scores(means, self.design)
        tags = list(zip(vpos[: full * b: b].tolist(), vts[: full * b: b].tolist(), strict=True))
        ends = np.arange(full) * b + b - 1 - carried
        det = self._dets["estimated_accuracy"]
        k0, i = 0, 0
        while k0 < full:
            inp = CorrectnessBlocks(z[k0:], means[k0:], tags[k0:], ends[k0:] - i)
            hit = race([([det], inp)], len(pred) - i)
            if hit is None:
                return
            j = i + hit[0]
            out.append(self._drop_detection(det, s, pred, j, int(pos[j]), float(ts[j])))
            k0 = int(np.searchsorted(ends, j, side="right"))
            i = j + 1

    def _drop_detection(self, det: Detector, s: np.ndarray, pred: np.ndarray, j: int,
                        position: int, timestamp: float) -> Detection:
        win_s, win_p, _ = self.window.window(s, pred, end=j + 1)
        metrics = self._estimate(win_s, win_p, self.n + j + 1)
        acc = metrics["accuracy"]
        reference = {"accuracy": self.reference.get("accuracy"),
                     "estimated_accuracy": self.reference_estimate.get("accuracy"),
                     "n": self.reference_n, "dependence": {"vif": self.design["vif"]}}
        report = det.report(position, reference)
        stats: dict[str, Any] = {
            "metric": "accuracy", "estimate": acc.estimate, "lower": acc.lower,
            "upper": acc.upper, "window": len(win_p), "reference": reference,
            "current": report.current, **report.extra,
            "metrics": {k: {"estimate": finite(m.estimate), "lower": finite(m.lower),
                            "upper": finite(m.upper), "reference": finite(m.reference)}
                        for k, m in metrics.items()},
        }
        return self._detection("estimated_performance", "accuracy", det, position, timestamp,
                               report, stats)

    # -- labelled predictions: reference and calibration check ---------------------------
    def update_labelled(self, s: np.ndarray, pred: np.ndarray, labels: np.ndarray,
                        pos: np.ndarray, ts: np.ndarray, off: np.ndarray | None = None
                        ) -> list[Detection]:
        """Feed labelled predictions (labels as class indices, -1: none of the classes)
        in arrival order, with the labels' source offsets: the reference until it is
        complete, then the check."""
        out: list[Detection] = []
        known = labels >= 0
        s, pred, labels, pos, ts = s[known], pred[known], labels[known], pos[known], ts[known]
        off = None if off is None else off[known]
        self.n_labelled += len(pred)
        i = 0
        while i < len(pred):
            if self.calibration is None:
                i = self._collect(s, pred, labels, pos, ts, off, i)
            else:
                i = self._check(s, pred, labels, pos, ts, i, out)
        self.labelled.push(s, pred, labels)
        return out

    def _collect(self, s: np.ndarray, pred: np.ndarray, labels: np.ndarray, pos: np.ndarray,
                 ts: np.ndarray, off: np.ndarray | None, i: int) -> int:
        need = self.reference_n - sum(len(p) for p in self._ref[1])
        end = min(i + need, len(pred))
        for part, arr in zip(self._ref, (s, pred, labels), strict=True):
            part.append(arr[i:end])
        extend_span(self.span, pos, ts, off, i, end)
        if end - i == need:
            self._fit(int(pos[end - 1]) + 1)
        return end

    def _fit(self, detectable_from: int) -> None:
        s, pred, y = (np.concatenate(p) for p in self._ref)
        self._ref = [[], [], []]
        cal, oof = ClassCalibration.fit(s, y, seed=0)
        metrics = binary_metrics if self.layout.binary else multiclass_metrics
        realised = metrics(s, pred, truth_rows(self.layout, y))
        estimated = metrics(s, pred, oof[None])
        self.reference = {k: float(v[0]) for k, v in realised.items()}
        self.reference_estimate = {k: float(v[0]) for k, v in estimated.items()}
        c = cal.correctness(cal.probabilities(s), pred)
        self.design = correctness_design(c, BLOCK_SIZE)
        reps = cal.correctness(cal.replicated(s), pred)
        bias = (logit(reps) - logit(c)[None, :]).mean(axis=1)
        sketch = np.quantile(c, (np.arange(_SKETCH) + 0.5) / _SKETCH)
        d = self.design
        ctx_ref = {"mean": d["mean"], "scale": d["scale"], "mean_se": d["mean_se"],
                   "scale_se": d["scale_se"], "block_size": BLOCK_SIZE,
                   "target_drop": TARGET_DROP, "sketch": sketch,
                   "bias_se": float(np.std(bias, ddof=1)),
                   "accuracy": self.reference["accuracy"]}
        ctx = FitContext(self.settings, self._arl, ctx_ref)
        self._dets = dict(zip(DETECTORS, build(list(DETECTORS), ctx), strict=True))
        self.calibration = cal
        self._detectable_from = detectable_from
        self._cache = None

    def _check(self, s: np.ndarray, pred: np.ndarray, labels: np.ndarray, pos: np.ndarray,
               ts: np.ndarray, i: int, out: list[Detection]) -> int:
        """Test labelled predictions from ``i``; the index to go on from (after an alert
        that dropped the calibration, the next ones teach a new one)."""
        cal = self.calibration
        assert cal is not None
        c = cal.correctness(cal.probabilities(s[i:]), pred[i:])
        x = (labels[i:] == pred[i:]).astype(np.float64)
        det = self._dets["calibration_check"]
        k = 0
        while k < len(x):
            hit = race([([det], LabelledItems(x[k:], c[k:], TagView(pos, ts, i + k)))],
                       len(x) - k)
            if hit is None:
                break
            j = i + k + hit[0]
            reference = {"accuracy": self.reference.get("accuracy"), "n": self.reference_n}
            report = det.report(int(pos[j]), reference)
            stats = {"reference": reference, "current": report.current, **report.extra}
            detection = self._detection("performance", None, det, int(pos[j]), float(ts[j]),
                                        report, stats)
            out.append(detection)
            if not detection.suppressed:
                # The calibration no longer holds: its estimates are dropped (learning
                # again, no gauges) until the next labelled predictions teach a new one.
                self._forget()
                return j + 1
            k = j - i + 1
        return len(pred)

    def _forget(self) -> None:
        self.calibration = None
        self._dets = {}
        self.span = {}
        self._carry = [np.zeros(0), np.zeros(0, np.int64), np.zeros(0)]
        self._cache = None

    def _detection(self, signal: str, feature: str | None, det: Detector, position: int,
                   timestamp: float, report: Any, stats: dict[str, Any]) -> Detection:
        self.detections += 1
        window = {"n": self.reference_n, **self.span, "labelled": True,
                  "classes": self.layout.classes}
        detection = make_detection(signal, feature, [det], position, timestamp, report, stats,
                                   window, self.settings.budget, self._arl)
        apply_cooldown(self._last_alert, detection, self.settings.cooldown_events)
        det.restart()
        return detection

    # -- state ---------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        cal = self.calibration
        return {
            "layout": self.layout.to_state(), "window": self.performance_window,
            "arl": self._arl,
            "ref": [pack(np.concatenate(self._ref[0]).ravel()) if self._ref[0] else "",
                    pack(np.concatenate(self._ref[1]), "<i8") if self._ref[1] else "",
                    pack(np.concatenate(self._ref[2]), "<i8") if self._ref[2] else ""],
            "calibration": None if cal is None else cal.to_state(),
            "reference": [self.reference, self.reference_estimate, self.design],
            "detectors": [[k, d.to_state()] for k, d in self._dets.items()],
            "rings": [self.window.to_state(), self.labelled.to_state()],
            "carry": [pack(self._carry[0]), pack(self._carry[1], "<i8"), pack(self._carry[2])],
            "last_alert": {k: list(v) for k, v in self._last_alert.items()},
            "span": self.span,
            "i": [self.n, self.n_labelled, self.detections, self._detectable_from],
        }

    @classmethod
    def from_state(cls, settings: MonitorSettings, state: dict[str, Any]) -> EstimationMonitor:
        layout = ScoreLayout.from_state(state["layout"])
        mon = cls(settings, layout, int(state["window"]))
        mon._arl = float(state["arl"])
        s, p, y = state["ref"]
        if p:
            mon._ref = [[unpack(s).reshape(-1, *layout.width)], [unpack(p, "<i8")],
                        [unpack(y, "<i8")]]
        cal = state["calibration"]
        mon.calibration = None if cal is None else ClassCalibration.from_state(cal)
        mon.reference, mon.reference_estimate, mon.design = state["reference"]
        mon._dets = {str(k): detector_class(str(k)).from_state(ds)
                     for k, ds in state["detectors"]}
        mon.window = Ring.from_state(state["rings"][0], layout.width, labelled=False)
        mon.labelled = Ring.from_state(state["rings"][1], layout.width, labelled=True)
        cc, cp, ct = state["carry"]
        mon._carry = [unpack(cc), unpack(cp, "<i8"), unpack(ct)]
        mon._last_alert = {str(k): [int(a), int(b)] for k, (a, b) in state["last_alert"].items()}
        mon.span = dict(state["span"])
        mon.n, mon.n_labelled, mon.detections, since = state["i"]
        mon._detectable_from = None if since is None else int(since)
        return mon
