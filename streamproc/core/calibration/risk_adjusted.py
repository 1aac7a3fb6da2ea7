"""Thresholds of the calibration check: a risk-adjusted CUSUM of labelled predictions.

Label-free estimation assumes ``P(correct | score)`` is what the reference taught. Once
labels arrive, each labelled prediction gives its realised correctness ``x`` (0/1)
beside its expected correctness ``c`` (the calibrated probability that it is right).
The check is a risk-adjusted CUSUM (Steiner et al., 2000) on each side: the
log-likelihood ratio of the odds of correctness multiplied by ``rho`` (1/2: the
estimator is optimistic, errors about double; 2: it is pessimistic) against ``c``::

    W = x log(rho / (1 - c + rho c)) + (1 - x) log(1 / (1 - c + rho c))

Under a right calibrator ``E[exp(W)] = 1`` for every prediction, however its ``c``
varies, so the walk's Cramér exponent is 1 and Wald's bound gives a false-alarm rate
``exp(-h)`` per labelled prediction (Lorden's ``h = ln ARL``). The calibrator is an
estimate, though: a bias ``e`` in the log-odds of every ``c`` makes the exponent
``theta(e)`` (solved on a 64-point sketch of the reference's ``c``), and the threshold
solves ``E[exp(-theta(e) h)] = 1 / ARL`` with ``e ~ N(0, se^2)`` averaged by
Gauss-Hermite quadrature, where ``se`` is the spread of the mean log-odds bias over the
calibrator's bootstrap replicate maps: the averaging of :func:`.bernoulli_design`, for a
walk whose rate changes with every prediction. Labels are assumed independent given
the scores.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["ODDS_RATIOS", "check_increments", "check_threshold", "logit"]

# The correctness odds each side of the check is tuned to detect.
ODDS_RATIOS = {"down": 0.5, "up": 2.0}
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(24)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def check_increments(c: np.ndarray, rho: float) -> tuple[np.ndarray, np.ndarray]:
    """The increments of a right (``x = 1``) and a wrong prediction of expected
    correctness ``c``, for the odds ratio ``rho``.

    >>> a, b = check_increments(np.array([0.9]), 0.5)
    >>> round(float(a[0]), 4), round(float(b[0]), 4)
    (-0.0953, 0.5978)
    """
    den = 1.0 - c + rho * c
    return np.log(rho / den), np.log(1.0 / den)


def _exponent(c: np.ndarray, rho: float, bias: np.ndarray) -> np.ndarray:
    """theta(e) for each bias e: the root of mean_i log(c' e^{theta a} + (1-c') e^{theta b})."""
    a, b = check_increments(c, rho)
    cp = 1.0 / (1.0 + np.exp(-(logit(c)[None, :] + bias[:, None])))
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
