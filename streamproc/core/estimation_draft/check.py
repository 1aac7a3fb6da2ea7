"""Calibration check: once labels arrive, is the calibrator still right?

Estimation assumes ``P(correct | score)`` is what the reference taught. A concept
shift breaks that without moving the scores, and the estimate cannot see it. When
labels arrive, even for a sample of predictions, each labelled prediction gives its
realised correctness ``x`` (0/1) beside its expected correctness ``c``. The check is
a risk-adjusted CUSUM (Steiner et al., 2000) on each side: the log-likelihood ratio
of the odds of correctness multiplied by ``rho`` (1/2: the estimator is optimistic,
errors about double; 2: it is pessimistic) against ``c``::

    W = x log(rho / (1 - c + rho c)) + (1 - x) log(1 / (1 - c + rho c))

Under a right calibrator ``E[exp(W)] = 1`` for every prediction, however its ``c``
varies, so the walk's Cramér exponent is 1 and Wald's bound gives a false-alarm rate
``exp(-h)`` per labelled prediction (Lorden's ``h = ln ARL``). The calibrator is an
estimate, though: a bias ``e`` in the log-odds of every ``c`` makes the exponent
``theta(e)`` (solved on a 64-point sketch of the reference's ``c``), and the threshold
solves ``E[exp(-theta(e) h)] = 1 / ARL`` with ``e ~ N(0, se^2)`` averaged by
Gauss-Hermite quadrature, where ``se`` is the spread of the mean log-odds bias over the
bootstrap replicate maps: the averaging of ``streamproc.core.calibration.bernoulli_design``,
for a walk whose rate changes with every prediction. Labels are assumed independent
given the scores.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._lindley import LindleyCusum, pack, quantize, unpack
from .estimator import PerformanceAlert, _as_inputs
from .reference import Calibration

__all__ = ["CalibrationCheck"]

ODDS_RATIOS = {"down": 0.5, "up": 2.0}
_SKETCH = 64
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(24)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()
# Labelled predictions kept to report realised and expected accuracy at an alarm.
REPORT_WINDOW = 2000


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def _increments(c: np.ndarray, rho: float) -> tuple[np.ndarray, np.ndarray]:
    den = 1.0 - c + rho * c
    return np.log(rho / den), np.log(1.0 / den)


def _exponent(c: np.ndarray, rho: float, bias: np.ndarray) -> np.ndarray:
    """theta(e) for each bias e: the root of mean_i log(c' e^{theta a} + (1-c') e^{theta b})."""
    a, b = _increments(c, rho)
    cp = 1.0 / (1.0 + np.exp(-(_logit(c)[None, :] + bias[:, None])))
    drift = (cp * a + (1.0 - cp) * b).mean(axis=1)
    lo = np.full(len(bias), 1e-6)
    hi = np.full(len(bias), 32.0)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        val = np.log(cp * np.exp(mid[:, None] * a) + (1.0 - cp) * np.exp(mid[:, None] * b))
        above = val.mean(axis=1) > 0.0
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    return np.where(drift < 0.0, 0.5 * (lo + hi), 0.0)


def check_threshold(sketch: np.ndarray, rho: float, bias_se: float, arl: float) -> float:
    """Threshold of one side for ``arl`` labelled predictions between false alarms.

    >>> c = np.linspace(0.6, 0.99, 64)
    >>> round(check_threshold(c, 0.5, 0.0, 1e5), 3), round(check_threshold(c, 0.5, 0.05, 1e5), 2)
    (11.513, 13.21)
    """
    theta = _exponent(sketch, rho, _NODES * bias_se)

    def rate(h: float) -> float:
        return float((_WEIGHTS * np.exp(-theta * h)).sum())

    lo, hi = math.log(arl), 10.0 * math.log(arl)
    if rate(hi) > 1.0 / arl:  # the calibrator is too uncertain to average over
        return hi
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if rate(mid) > 1.0 / arl else (lo, mid)
    return hi


class CalibrationCheck:
    """Two-sided sequential test of realised against expected correctness.

    Examples
    --------
    >>> from streamproc.core.estimation_draft.estimator import PerformanceEstimator
    >>> rng = np.random.default_rng(3)
    >>> s = rng.beta(0.6, 0.6, 20_000); y = (rng.random(20_000) < s).astype(int)
    >>> est = PerformanceEstimator.fit(s, y)
    >>> check = CalibrationCheck.fit(est, s, y, arl_events=1e5)
    >>> s2 = rng.beta(0.6, 0.6, 20_000)
    >>> y2 = np.where(np.arange(20_000) < 10_000, rng.random(20_000) < s2,
    ...               rng.random(20_000) < 0.5 + 0.6 * (s2 - 0.5))  # concept shift
    >>> a = check.update(s2, y2)[0]
    >>> a.detector, a.position, a.direction, a.onset_position > 9_000
    ('calibration', 10275, 'down', True)
    >>> round(a.statistics["realised_accuracy"], 3), round(a.statistics["expected_accuracy"], 3)
    (0.787, 0.801)
    """

    def __init__(self, calibration: Calibration, sketch: np.ndarray, bias_se: float,
                 arl_events: float = 1e5) -> None:
        self.calibration = calibration
        self.sketch = sketch
        self.bias_se = float(bias_se)
        self._cusums: dict[str, LindleyCusum] = {}
        self.calibrate(arl_events)
        self._recent = np.zeros((0, 2))  # (realised, expected) of the last labelled ones
        self._onset = {side: -1 for side in ODDS_RATIOS}
        self.n = 0

    @classmethod
    def fit(cls, estimator: Any, scores: Any, labels: Any, predictions: Any = None,
            arl_events: float = 1e5) -> CalibrationCheck:
        """The check of an estimator's calibration, from the same reference."""
        cal: Calibration = estimator.calibration
        s, pred = _as_inputs(scores, predictions, cal.binary)
        c = cal.correctness(cal.probabilities(s), pred)
        reps = cal.correctness(cal.replicated(s), pred)
        bias = (_logit(reps) - _logit(c)[None, :]).mean(axis=1)
        sketch = np.quantile(c, (np.arange(_SKETCH) + 0.5) / _SKETCH)
        return cls(cal, sketch, float(np.std(bias, ddof=1)), arl_events)

    def calibrate(self, arl_events: float) -> None:
        """Give the check ``arl_events`` labelled predictions between false alarms (half
        on each side)."""
        self.arl_events = float(arl_events)
        for side, rho in ODDS_RATIOS.items():
            h = check_threshold(self.sketch, rho, self.bias_se, self.arl_events / 2.0)
            old = self._cusums.get(side)
            new = LindleyCusum(h)
            if old is not None:
                new._s, new._n, new._start = old._s, old._n, old._start
            self._cusums[side] = new

    def update(self, scores: Any, labels: Any, predictions: Any = None,
               positions: Any = None) -> list[PerformanceAlert]:
        """Feed labelled predictions (scores, true labels, the model's predictions) in
        arrival order; return alerts, earliest first."""
        s, pred = _as_inputs(scores, predictions, self.calibration.binary)
        y = np.asarray(labels).astype(np.int64)
        if y.shape != pred.shape:
            raise ValueError(f"{len(y)} labels for {len(pred)} labelled predictions")
        n = len(y)
        pos = (np.arange(self.n, self.n + n, dtype=np.int64) if positions is None
               else np.asarray(positions, dtype=np.int64))
        c = self.calibration.correctness(self.calibration.probabilities(s), pred)
        x = (y == pred).astype(np.float64)
        alerts: list[PerformanceAlert] = []
        for side, rho in ODDS_RATIOS.items():
            cus = self._cusums[side]
            a, b = _increments(c, rho)
            base = cus.n
            for j, onset, _mean in cus.feed(quantize(np.where(x == 1.0, a, b))):
                start = int(pos[onset - base]) if onset >= base else self._onset[side]
                recent = np.concatenate([self._recent, np.stack([x, c], axis=1)[: j + 1]])
                recent = recent[-REPORT_WINDOW:]
                stats = {"realised_accuracy": float(recent[:, 0].mean()),
                         "expected_accuracy": float(recent[:, 1].mean()),
                         "labelled": len(recent), "odds_ratio": rho,
                         "threshold": cus.threshold, "arl_events": self.arl_events}
                alerts.append(PerformanceAlert("calibration", int(pos[j]), start, side, stats))
            if cus.onset is None:
                self._onset[side] = -1
            elif cus.onset >= base:
                self._onset[side] = int(pos[cus.onset - base])
        self._recent = np.concatenate([self._recent, np.stack([x, c], axis=1)])[-REPORT_WINDOW:]
        self.n += n
        alerts.sort(key=lambda al: al.position)
        return alerts

    def to_state(self) -> dict[str, Any]:
        return {"calibration": self.calibration.to_state(), "sketch": pack(self.sketch),
                "bias_se": self.bias_se, "arl": self.arl_events,
                "cusums": {k: c.to_state() for k, c in self._cusums.items()},
                "recent": pack(self._recent.ravel()), "onset": dict(self._onset), "n": self.n}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> CalibrationCheck:
        chk = cls(Calibration.from_state(state["calibration"]), unpack(state["sketch"]),
                  float(state["bias_se"]), float(state["arl"]))
        chk._cusums = {k: LindleyCusum.from_state(v) for k, v in state["cusums"].items()}
        if set(chk._cusums) != set(ODDS_RATIOS):
            raise ValueError("calibration-check state needs a 'down' and an 'up' CUSUM")
        chk._recent = unpack(state["recent"]).reshape(-1, 2)
        chk._onset = {str(k): int(v) for k, v in state["onset"].items()}
        chk.n = int(state["n"])
        return chk
