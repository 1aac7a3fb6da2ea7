"""The dependence of a stable stream, estimated on its reference window.

The block tests' thresholds assume independent values. Sensor readings, rates,
rolling aggregates and time-of-day traffic are autocorrelated: on an AR(1) stream
with phi = 0.9 an i.i.d. threshold fires about a thousand times more often than
its budget. Two things fix that:

* **Prewhitening.** An autoregressive model is fitted to the reference's normal
  scores (Yule-Walker by the Levinson-Durbin recursion, order 0 to
  :data:`P_MAX` chosen by BIC, so an independent reference keeps order 0 and the
  i.i.d. tests unchanged). Each later score is replaced by its innovation, its
  departure from what the model predicts from the previous ones; innovations are
  independent on a stable stream, and the block tests calibrated for independent
  values hold on them. A change the model does not predict (a level shift, a new
  variance) still moves them: a shift of ``d`` in the level shows as ``d /
  innovation sd`` at once and as ``d (1 - sum(phi)) / innovation sd`` from then on.
* **A reference long enough for the dependence.** A dependent reference carries
  less information than its length says: its variance inflation factor
  ``VIF = long-run variance / variance = innovation variance / ((1 - sum(phi))^2
  variance)`` counts how many events make one independent one. A monitor whose
  first reference window shows ``VIF > 1`` (significantly) keeps learning until it
  has seen ``VIF`` times as many events, at most :data:`MAX_EXTENSION` times, so
  that its normal-score sketch and range cover the stream's actual spread (a slow
  cycle a short window sees only part of).

:func:`fit_ar` is the estimate; the numeric monitor applies it
(:mod:`streamproc.core.reference`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["MAX_EXTENSION", "P_MAX", "ARFit", "count_dispersion", "fit_ar", "fit_ar_segments",
           "level_wander", "markov_vif", "overdispersed"]

# Highest autoregressive order tried: enough for the seasonal and ARMA classes of the
# detection benchmark (their BIC orders stay below 16), few enough that fitting a
# reference takes a fraction of a millisecond and whitening 16 lags per value.
P_MAX = 16
# A dependent reference is extended to at most this many reference windows: a
# stream whose dependence needs more is not stable on the monitor's time scale
# (declare its season, or give it a larger reference_size).
MAX_EXTENSION = 10.0
# VIF below this is not worth a longer warm-up (and BIC already keeps order 0 for an
# independent reference, which gives exactly 1).
_VIF_EXTEND = 1.2


@dataclass(frozen=True)
class ARFit:
    """An autoregressive model of a reference: coefficients, innovation variance, VIF."""

    phi: tuple[float, ...]
    innovation_var: float
    variance: float

    @property
    def order(self) -> int:
        return len(self.phi)

    @property
    def vif(self) -> float:
        """Long-run variance / variance (1: independent); capped where it diverges."""
        persistence = 1.0 - math.fsum(self.phi)
        if persistence <= 1.0 / MAX_EXTENSION**2:
            return MAX_EXTENSION**2
        return self.innovation_var / (persistence * persistence * self.variance)

    @property
    def extension(self) -> float:
        """How many reference windows a reference with this dependence needs."""
        v = self.vif
        return 1.0 if v < _VIF_EXTEND else min(v, MAX_EXTENSION)


def _autocovariances(segments: list[np.ndarray], p: int) -> np.ndarray:
    """Lag 0..p autocovariances pooled over runs of consecutive (centred) values."""
    n = sum(len(d) for d in segments)
    return np.array([math.fsum(float(np.dot(d[: len(d) - k], d[k:])) for d in segments
                               if len(d) > k) / n for k in range(p + 1)])


def fit_ar(z: np.ndarray, p_max: int = P_MAX) -> ARFit:
    """Yule-Walker AR fit of ``z`` (demeaned inside), order chosen by BIC.

    >>> rng = np.random.default_rng(3)
    >>> e = rng.normal(size=3000); x = np.zeros(3000)
    >>> for t in range(1, 3000):
    ...     x[t] = 0.6 * x[t - 1] + e[t]
    >>> fit = fit_ar(x)
    >>> fit.order, round(fit.phi[0], 2), round(fit.vif, 1)
    (1, 0.61, 4.2)
    >>> fit_ar(rng.normal(size=2000)).order
    0
    """
    return fit_ar_segments([np.asarray(z, dtype=np.float64) - float(np.mean(z))], p_max)


def fit_ar_segments(segments: list[np.ndarray], p_max: int = P_MAX) -> ARFit:
    """:func:`fit_ar` on runs of consecutive centred values (one series cut in pieces)."""
    n = sum(len(d) for d in segments)
    p_max = max(0, min(p_max, n // 10, min(len(d) for d in segments) - 1))
    r = _autocovariances(segments, p_max)
    variance = float(r[0])
    if variance <= 0.0:
        return ARFit((), 0.0, 0.0)
    penalty = math.log(n)
    best = (n * math.log(variance), (), variance)
    phi = np.zeros(0)
    v = variance
    for k in range(1, p_max + 1):
        acc = r[k] - float(np.dot(phi, r[k - 1 : 0 : -1]))
        reflection = acc / v
        if not -1.0 < reflection < 1.0:
            break
        phi = np.concatenate([phi - reflection * phi[::-1], [reflection]])
        v *= 1.0 - reflection * reflection
        score = n * math.log(v) + penalty * k
        if score < best[0]:
            best = (score, tuple(float(c) for c in phi), v)
    return ARFit(best[1], float(best[2]), variance)


def markov_vif(n: int, ones: int, pairs: int, runs_of_ones: int) -> float:
    """Variance inflation of a 0/1 stream's counts under a two-state Markov model.

    ``pairs`` consecutive pairs were seen, ``runs_of_ones`` of them were (1, 1).
    The lag-one autocorrelation ``rho = (P(1|1) - p) / (1 - p)`` gives
    ``VIF = (1 + rho) / (1 - rho)``; it is used only where rho is three standard
    errors above zero, so an independent stream keeps exactly 1.

    >>> markov_vif(10_000, 1_000, 9_999, 100)  # independent: P(1|1) = p
    1.0
    >>> round(markov_vif(10_000, 1_000, 9_999, 900), 1)  # bursts: P(1|1) = 0.9
    17.2
    """
    if n < 2 or ones == 0 or ones >= n or pairs <= 0:
        return 1.0
    p = ones / n
    followers = max(ones - 1, 1)  # ones that have a successor, about
    q = min(runs_of_ones / followers, 1.0 - 1e-9)
    rho = (q - p) / (1.0 - p)
    se = math.sqrt(max(q * (1.0 - q), 1e-12) / followers) / (1.0 - p)
    if rho <= 3.0 * se:
        return 1.0
    return min((1.0 + rho) / (1.0 - rho), MAX_EXTENSION**2)


# z of the one-sided test that a reference is overdispersed (dependent): 3.7 is a
# 1e-4 false-positive rate, so independent references almost never learn longer.
_DISPERSION_Z = 3.7


def overdispersed(statistic: float, dof: float) -> bool:
    """True if a chi-square-like ``statistic`` on ``dof`` degrees of freedom is far
    above what independent values give (Wilson-Hilferty z > 3.7).

    >>> overdispersed(60.0, 60), overdispersed(120.0, 60)
    (False, True)
    """
    if dof <= 0 or statistic <= 0:
        return False
    z = ((statistic / dof) ** (1.0 / 3.0) - (1.0 - 2.0 / (9.0 * dof))) / math.sqrt(
        2.0 / (9.0 * dof))
    return z > _DISPERSION_Z


def count_dispersion(counts: np.ndarray, block: int) -> float:
    """Variance inflation of a 0/1 stream's counts in blocks of ``block`` (1: none).

    ``counts`` are the ones in consecutive blocks. Their variance is ``block p (1 - p)``
    for independent flags; bursts and slowly cycling rates make it larger. Tested at
    the block scale and at five times it (a slow cycle shows better in longer
    blocks); used only when overdispersed (:func:`overdispersed`).

    >>> rng = np.random.default_rng(0)
    >>> count_dispersion(rng.binomial(100, 0.1, 200), 100)
    1.0
    >>> p = 0.1 + 0.05 * np.sin(np.arange(200) / 8)  # a rate cycling every 50 blocks
    >>> round(count_dispersion(rng.binomial(100, p), 100), 1)
    2.2
    """
    k = len(counts)
    if k < 2:
        return 1.0
    total = float(np.sum(counts))
    p = total / (k * block)
    if not 0.0 < p < 1.0:
        return 1.0
    ratio = float(np.var(counts, ddof=1)) / (block * p * (1.0 - p))
    dependent = overdispersed(ratio * (k - 1), k - 1)
    coarse = len(counts) // 5
    if not dependent and coarse >= 2:
        c5 = np.asarray(counts[: coarse * 5]).reshape(coarse, 5).sum(axis=1)
        r5 = float(np.var(c5, ddof=1)) / (5 * block * p * (1.0 - p))
        dependent = overdispersed(r5 * (coarse - 1), coarse - 1)
    if not dependent:
        return 1.0
    return min(max(ratio, 1.0 + 1e-9), MAX_EXTENSION**2)


# Coarse blocks of this many test blocks measure the level's slow variation; a reference
# yields at least _WANDER_MIN of them or the measure is not taken.
_WANDER_SCALE = 8
_WANDER_MIN = 6


def level_wander(u: list[np.ndarray], block: int) -> tuple[float, float]:
    """(variance, dispersion ratio) of the level variation left in whitened scores.

    ``u`` are runs of consecutive whitened scores of a reference (unit variance when
    the dependence model is right); their means over coarse blocks of
    ``_WANDER_SCALE * block`` values vary as 1 / c around zero then. A slow cycle or a
    trend that the reference is too short for leaves more: the excess variance is
    returned (per value; 0 unless the dispersion is significant, see
    :func:`overdispersed`), with the ratio of the observed to the expected variance.

    >>> rng = np.random.default_rng(5)
    >>> level_wander([rng.normal(size=2000)], 16)
    (0.0, 1.0)
    >>> slow = rng.normal(size=2000) + np.sin(np.arange(2000) / 300)
    >>> var, ratio = level_wander([slow], 16)
    >>> round(var, 2), ratio > 10
    (0.49, True)
    """
    c = _WANDER_SCALE * block
    first = len(u[0]) if u else 0
    if first // c < _WANDER_MIN:  # a short reference: coarser blocks of at least 2 blocks
        c = max(2 * block, (first // _WANDER_MIN) // block * block)
    means = [seg[: len(seg) // c * c].reshape(-1, c).mean(axis=1) for seg in u if len(seg) >= c]
    coarse = np.concatenate(means) if means else np.zeros(0)
    k = len(coarse)
    if k < _WANDER_MIN:
        return 0.0, 1.0
    var = float(np.var(coarse, ddof=1))
    ratio = var * c
    if not overdispersed(ratio * (k - 1), k - 1):
        return 0.0, 1.0
    return max(var - 1.0 / c, 0.0), ratio
