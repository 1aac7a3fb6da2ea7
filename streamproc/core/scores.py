"""Normal scores: values mapped through the reference's distribution to N(0, 1).

Block tests assume block statistics are close to normal. Raw values of skewed or
heavy-tailed features (amounts, durations, counts) break that assumption and
alarm more often than the budget allows. Mapping each value to the normal
quantile of its position in the reference distribution (its normal score) makes
a stable stream N(0, 1)-like whatever the feature's distribution, so one
calibration fits all features; shifts of location or spread still move the
scores.

The reference distribution is kept as a sketch of at most 257 order statistics
(bounded state) and evaluated by linear interpolation, which is exact IEEE
arithmetic: scores do not depend on how a stream is cut into batches.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any

import numpy as np

from .packing import pack, unpack

__all__ = ["NormalScores"]

# Knots of the reference sketch: enough for a smooth CDF, small enough for snapshots.
_KNOTS = 257
# Inverse normal CDF, tabulated once; interpolating it is deterministic, unlike numpy's
# SIMD transcendental functions.
_GRID_STEPS = 8192
_GRID_U = np.linspace(0.0, 1.0, _GRID_STEPS + 1)  # exactly i / 8192
_GRID_Z = np.array([NormalDist().inv_cdf(min(max(u, 1e-9), 1 - 1e-9)) for u in _GRID_U])
_GRID_SLOPE = np.diff(_GRID_Z) / np.diff(_GRID_U)


def grid_z(u: np.ndarray) -> np.ndarray:
    """``np.interp(u, _GRID_U, _GRID_Z)`` for 0 <= u < 1, bit for bit, ~7x faster.

    The grid is uniform in steps of a power of two, so ``u * 8192`` (exact) floors to
    the interval numpy's binary search would find; then numpy's own arithmetic,
    ``slope[j] * (u - x[j]) + z[j]`` with its slopes (tests/core/test_scores.py
    compares the two over a million values and at every knot).
    """
    j = (u * _GRID_STEPS).astype(np.intp)
    return _GRID_SLOPE[j] * (u - _GRID_U[j]) + _GRID_Z[j]


def _ranks(n: int, k: int) -> np.ndarray:
    return np.round(np.linspace(0, n - 1, k)).astype(np.int64)


class NormalScores:
    """Map values to normal scores against a reference sample.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ns = NormalScores.fit(rng.exponential(1.0, 2000))
    >>> z = ns(rng.exponential(1.0, 100_000))
    >>> round(float(z.mean()), 2), round(float(z.std()), 2), round(float(np.abs(z).max()), 2)
    (-0.01, 0.99, 3.48)
    """

    def __init__(self, xp: np.ndarray, fp: np.ndarray, n: int,
                 knots: np.ndarray | None = None) -> None:
        self.xp = xp
        self.fp = fp
        self.n = n
        self.knots = knots  # the order statistics kept (with ties): xp and fp follow
        self._lo = 0.5 / (n + 1)
        self._hi = 1.0 - 0.5 / (n + 1)

    @classmethod
    def fit(cls, values: np.ndarray) -> NormalScores:
        srt = np.sort(np.asarray(values, dtype=np.float64))
        n = len(srt)
        k = min(_KNOTS, n)
        return cls.from_knots(srt[_ranks(n, k)], n)

    @classmethod
    def from_knots(cls, knots: np.ndarray, n: int) -> NormalScores:
        """The sketch of the order statistics ``knots`` of ``n`` reference values."""
        ranks = _ranks(n, len(knots))
        # E[F(X_(i))] = (i + 1) / (n + 1): the expected CDF at the i-th order statistic.
        u = (ranks + 1.0) / (n + 1.0)
        xp, inverse = np.unique(knots, return_inverse=True)
        # Tied knots (discrete features) take their mid CDF value: mid-ranks.
        fp = np.bincount(inverse, weights=u) / np.bincount(inverse)
        return cls(xp, fp, n, knots)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if len(self.xp) == 1:
            return np.where(x < self.xp[0], -3.0, np.where(x > self.xp[0], 3.0, 0.0))
        u = np.interp(x, self.xp, self.fp, left=self._lo, right=self._hi)
        np.maximum(u, self._lo, out=u)  # within (0, 1); np.clip without its wrappers
        np.minimum(u, self._hi, out=u)
        return grid_z(u)

    def to_state(self) -> dict[str, Any]:
        assert self.knots is not None
        return {"knots": pack(self.knots), "n": self.n}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> NormalScores:
        knots = unpack(state["knots"])
        n = int(state["n"])
        if knots.ndim != 1 or not 0 < len(knots) <= min(_KNOTS, n):
            raise ValueError("normal-score sketch has no knots or more than its reference")
        if np.any(np.diff(knots) < 0):
            raise ValueError("normal-score sketch knots are not sorted")
        return cls.from_knots(knots, n)
