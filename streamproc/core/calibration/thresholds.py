"""The thresholds that keep a false-alarm budget.

An operator states a budget (:mod:`.budget`): on a stable stream, the expected number of events
between false alarms (default 100,000), for a whole model (the default) or for each
monitor. Every detector of streamproc is a CUSUM-type test on a statistic that is
standardised against the reference window, so one budget maps to a threshold on
any feature's location and scale:

* **Gaussian CUSUM** (``cusum`` on block means, the spread test on block
  log-variances, the categorical chi-square test). Each block statistic is
  approximately N(0, 1) on a stable stream (central limit theorem on blocks of
  ``block_size`` events). The in-control average run length (ARL) of a one-sided
  CUSUM with allowance ``k`` and threshold ``h`` follows Siegmund's approximation
  ``ARL = (exp(2 k b) - 2 k b - 1) / (2 k^2)`` with ``b = h + 1.166``. The reference
  mean and scale are estimates, not truths: an error ``e`` in the mean turns the
  drift into ``-k + e`` on one side, which shortens the ARL a lot. The threshold is
  therefore solved so that the *expected* false-alarm rate, averaged over the
  sampling error of the reference (Gauss-Hermite quadrature over the mean and the
  log-scale errors), equals the budget.
* **Bernoulli CUSUM** (missing rate, out-of-range rate, type changes, unseen
  categories, classification error rate). Its increments are log-likelihood ratios,
  for which Lorden's bound gives ``ARL >= exp(h)`` when the true rate is the design
  rate. When the reference saw enough events of both kinds (>= 30 each), the design
  rate is the reference estimate and ``h`` solves ``E[exp(-theta(p) h)] = 1/ARL``
  averaged over the estimate's sampling error, where ``theta(p)`` is the Cramér
  exponent of the walk under a true rate ``p`` (Wald: the chance to climb to ``h``
  is ``exp(-theta h)``). With fewer (rare events: nulls, new categories), the
  design rate is an upper confidence bound (z = 4) of the estimate and ``h = ln(ARL)``.
* **ADWIN** checks a Bernstein-type bound with confidence ``delta`` at every check:
  the expected number of false cuts per check is at most ``delta``, so
  ``delta = checks per budget^-1`` is a (conservative) bound.

A model's budget is split between its inputs, predictions and performance (80/10/10),
then evenly over the detectors of each (Bonferroni): false-alarm rates add, so a
model with 50 features alarms no more often than the budget says.
Assumptions: events are independent on a stable stream (autocorrelated features
alarm more often) and a block of ``block_size`` events is enough for the central
limit theorem (very heavy tails alarm more often). ``benchmarks/detection.py``
measures what these assumptions cost.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from ..errors import InvalidSetting

__all__ = [
    "adwin_delta",
    "alternative_rate",
    "bernoulli_design",
    "bernoulli_threshold",
    "cusum_arl",
    "cusum_threshold",
    "range_rate_bound",
    "wilson_upper",
]

# Siegmund's correction for the overshoot of a Gaussian random walk over the threshold.
_SIEGMUND_OVERSHOOT = 1.166
# Gauss-Hermite nodes (probabilists') for averaging over reference sampling error:
# 24 nodes integrate the exponential tails of the rate accurately for errors up to
# ~0.3 standard deviations of the block statistic.
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(24)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def cusum_arl(h: float, k: float, drift: float = 0.0, scale: float = 1.0) -> float:
    """Siegmund's average run length of a one-sided CUSUM.

    The increments are ``N(drift, scale^2)``; the CUSUM subtracts ``k`` and stops at ``h``.

    >>> round(cusum_arl(5.0, 0.5))
    938
    """
    delta = (drift - k) / scale
    b = h / scale + _SIEGMUND_OVERSHOOT
    if abs(delta) < 1e-9:
        return b * b
    x = min(-2.0 * delta * b, 700.0)
    return (math.exp(x) + 2.0 * delta * b - 1.0) / (2.0 * delta * delta)


def _expected_rate(h: float, k: float, sides: int, mean_se: float, scale_se: float) -> float:
    return _rate_curve(k, sides, mean_se, scale_se)(h)


@lru_cache(maxsize=256)
def _rate_curve(k: float, sides: int, mean_se: float,
                scale_se: float) -> Callable[[float], float]:
    """h -> false-alarm rate per step averaged over the reference's sampling error."""
    eps = _NODES * mean_se
    # An error of e in the reference scale multiplies the statistic's spread by exp(e).
    scales = np.exp(_NODES * scale_se)
    e, sc = np.meshgrid(eps, scales, indexing="ij")
    w = np.outer(_WEIGHTS, _WEIGHTS)
    terms = []
    for sign in (1.0, -1.0)[:sides]:
        delta = (sign * e - k) / sc
        small = np.abs(delta) < 1e-9
        terms.append((np.where(small, 1.0, delta), small))

    def rate(h: float) -> float:
        total = 0.0
        b = h / sc + _SIEGMUND_OVERSHOOT
        for safe, small in terms:
            x = np.minimum(-2.0 * safe * b, 700.0)
            arl = np.where(small, b * b, (np.exp(x) + 2.0 * safe * b - 1.0) / (2.0 * safe * safe))
            total += float((w / np.maximum(arl, 1.0)).sum())
        return total

    return rate


@lru_cache(maxsize=4096)
def cusum_threshold(
    arl: float, k: float, sides: int = 2, mean_se: float = 0.0, scale_se: float = 0.0
) -> float:
    """Threshold ``h`` of a CUSUM whose expected false-alarm rate is ``1 / arl``.

    ``arl`` is in units of the statistic (blocks), ``k`` is the allowance, ``sides``
    is 1 (one-sided) or 2 (the rate of both sides together), ``mean_se`` and
    ``scale_se`` are the standard errors of the reference mean (in units of the
    statistic's standard deviation) and of the log reference scale.

    >>> round(cusum_threshold(1000.0, 0.5, sides=1), 2)
    5.06
    >>> cusum_threshold(1000.0, 0.5, 1, mean_se=0.1) > cusum_threshold(1000.0, 0.5, 1)
    True
    """
    if arl <= 1.0:
        raise InvalidSetting(f"arl must exceed 1, got {arl!r}")
    if k <= 0:
        raise InvalidSetting(f"allowance k must be positive, got {k!r}")
    rate = _rate_curve(k, sides, mean_se, scale_se)
    target = math.log(1.0 / arl)
    lo, hi = 0.0, 1.0
    g_hi = math.log(rate(hi)) - target
    while g_hi > 0.0:
        lo, hi = hi, hi * 2.0
        if hi > 1e6:
            raise InvalidSetting(
                f"no threshold reaches an ARL of {arl:g} with k={k:g} and mean_se={mean_se:g}; "
                "use a larger reference window"
            )
        g_hi = math.log(rate(hi)) - target
    # The log-rate falls almost linearly in h: regula falsi (Illinois) converges in a few
    # steps where bisection took 60; the bracket ends within 1e-12 of the root.
    g_lo = math.log(rate(lo)) - target
    side = 0
    for _ in range(100):
        if hi - lo <= 1e-12 * hi:
            break
        mid = hi - g_hi * (hi - lo) / (g_hi - g_lo)
        if not lo < mid < hi:
            mid = 0.5 * (lo + hi)
        g_mid = math.log(rate(mid)) - target
        if g_mid > 0.0:
            lo, g_lo = mid, g_mid
            if side == -1:
                g_hi *= 0.5
            side = -1
        else:
            hi, g_hi = mid, g_mid
            if side == 1:
                g_lo *= 0.5
            side = 1
    return hi


def alternative_rate(p0: float) -> float:
    """The rate the test is tuned to detect: double, at least +0.5 percentage points.

    >>> alternative_rate(0.1), alternative_rate(0.0001), alternative_rate(0.6)
    (0.2, 0.0051, 0.8)
    """
    p1 = max(2.0 * p0, p0 + 0.005)
    return round(min(p1, p0 + (1.0 - p0) / 2.0), 12)



def bernoulli_threshold(arl_events: float) -> float:
    """Threshold of a Bernoulli log-likelihood-ratio CUSUM (Lorden: ARL >= exp(h)).

    >>> round(bernoulli_threshold(1e6), 3)
    13.816
    """
    if arl_events <= 1.0:
        raise InvalidSetting(f"arl must exceed 1, got {arl_events!r}")
    return math.log(arl_events)


def adwin_delta(arl_updates: float, clock: int) -> float:
    """ADWIN confidence so that false cuts happen at most once per ``arl_updates``.

    >>> adwin_delta(100_000, 4)
    4e-05
    """
    return min(0.05, clock / float(arl_updates))


# z of the upper confidence bound on a reference rate. A reference that under-counts
# makes a Bernoulli CUSUM alarm within thousands of events, so the bound must almost
# never be wrong: z = 4 (one-sided 3e-5) keeps that term far below any budget.
RATE_BOUND_Z = 4.0


def wilson_upper(successes: float, n: float, z: float = RATE_BOUND_Z) -> float:
    """Upper Wilson score bound of a proportion (one-sided, z = 4 by default).

    >>> round(wilson_upper(0, 2000), 5), round(wilson_upper(200, 2000), 4)
    (0.00794, 0.1301)
    """
    if n <= 0:
        return 1.0
    p = successes / n
    z2 = z * z
    centre = p + z2 / (2.0 * n)
    spread = z * math.sqrt(max(p * (1.0 - p) / n + z2 / (4.0 * n * n), 0.0))
    return min(1.0, (centre + spread) / (1.0 + z2 / n))


# Out-of-range mass of a [min, max] range learnt from n values is Beta(2, n - 1),
# about Gamma(2)/n: it exceeds 14/n with probability (1 + 14) e^-14 ~ 1.2e-5.
_RANGE_TAIL = 14.0


def range_rate_bound(n: int) -> float:
    """Design out-of-range rate for a range learnt from ``n`` values (distribution-free).

    >>> range_rate_bound(2000)
    0.007
    """
    return min(_RANGE_TAIL / n, 0.5)


# Below this many events of either kind in the reference, the normal approximation
# of the rate's sampling error is too rough: use the conservative upper-bound design.
_MIN_COUNT_FOR_AVERAGING = 30


def _cramer_exponent(p: np.ndarray, a: float, c: float) -> np.ndarray:
    """Positive root theta of p e^(a theta) + (1-p) e^(c theta) = 1 (0 where none)."""
    mean = p * a + (1.0 - p) * c
    lo = np.full_like(p, 1e-9)
    hi = np.full_like(p, 64.0)
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        above = p * np.exp(np.minimum(a * mid, 700.0)) + (1.0 - p) * np.exp(c * mid) > 1.0
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    return np.where(mean < 0.0, 0.5 * (lo + hi), 0.0)


@lru_cache(maxsize=4096)
def bernoulli_design(ones: int, n: int, arl_events: float) -> tuple[float, float, float]:
    """(design rate p0, alternative p1, threshold h) of a Bernoulli CUSUM for a budget.

    >>> p0, p1, h = bernoulli_design(200, 2000, 1e6)
    >>> p0, p1, round(h, 2)
    (0.1, 0.2, 17.72)
    >>> p0, p1, h = bernoulli_design(0, 2000, 1e6)  # rare: upper bound, Lorden
    >>> round(p0, 5), round(h, 3)
    (0.00794, 13.816)
    """
    if min(ones, n - ones) < _MIN_COUNT_FOR_AVERAGING:
        p0 = max(wilson_upper(ones, n), 1e-6)
        return p0, alternative_rate(p0), bernoulli_threshold(arl_events)
    p0 = ones / n
    p1 = alternative_rate(p0)
    a, c = math.log(p1 / p0), math.log((1.0 - p1) / (1.0 - p0))
    se = math.sqrt(p0 * (1.0 - p0) / n)
    p = np.clip(p0 + _NODES * se, 1e-9, 1.0 - 1e-9)
    theta = _cramer_exponent(p, a, c)
    drift = p * a + (1.0 - p) * c
    spread = np.sqrt(p * (1.0 - p)) * (a - c)
    target = 1.0 / arl_events

    def rate(h: float) -> float:
        # Negative drift: Wald's exp(-theta h) bounds the chance an excursion reaches h.
        # No negative drift (the true rate is past the balance point): Siegmund's
        # run length of a Gaussian walk with the same drift and spread.
        delta = drift / spread
        b = h / spread + _SIEGMUND_OVERSHOOT
        safe = np.where(np.abs(delta) < 1e-9, 1e-9, delta)
        arl = (np.exp(np.minimum(-2 * safe * b, 700.0)) + 2 * safe * b - 1) / (2 * safe * safe)
        per_event = np.where(theta > 0, np.exp(-theta * h), 1.0 / np.maximum(arl, 1.0))
        return float((_WEIGHTS * np.minimum(per_event, 1.0)).sum())

    lo, hi = math.log(arl_events), 4.0 * math.log(arl_events)
    if rate(hi) > target:  # the reference is too uncertain to average: be conservative
        p0 = wilson_upper(ones, n)
        return p0, alternative_rate(p0), bernoulli_threshold(arl_events)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if rate(mid) > target else (lo, mid)
    return p0, p1, hi
