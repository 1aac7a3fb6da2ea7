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

from ..errors import InvalidState
from ..snapshot_arrays import pack, unpack

__all__ = ["NormalScores"]

# Knots of the reference sketch: enough for a smooth CDF, small enough for snapshots.
_KNOTS = 257
# Inverse normal CDF, tabulated once; interpolating it is deterministic, unlike numpy's
# SIMD transcendental functions.
_GRID_STEPS = 8192
_GRID_U = np.linspace(0.0, 1.0, _GRID_STEPS + 1)  # exactly i / 8192
_GRID_Z = np.array([NormalDist().inv_cdf(min(max(u, 1e-9), 1 - 1e-9)) for u in _GRID_U])
_GRID_SLOPE = np.diff(_GRID_Z) / np.diff(_GRID_U)
# Below this many values np.interp is cheaper than KnotIndex's fixed cost per call.
_INDEX_MIN = 64


def grid_z(u: np.ndarray) -> np.ndarray:
    """``np.interp(u, _GRID_U, _GRID_Z)`` for 0 <= u < 1, bit for bit, ~7x faster.

    The grid is uniform in steps of a power of two, so ``u * 8192`` (exact) floors to
    the interval numpy's binary search would find; then numpy's own arithmetic,
    ``slope[j] * (u - x[j]) + z[j]`` with its slopes (tests/core/test_scores.py
    compares the two over a million values and at every knot).
    """
    j = (u * _GRID_STEPS).astype(np.intp)
    return _GRID_SLOPE[j] * (u - _GRID_U[j]) + _GRID_Z[j]


class KnotIndex:
    """``np.interp(x, xp, fp, left, right)`` for finite ``x``, bit for bit, ~2x faster on
    fresh values.

    numpy finds each value's interval by a binary search whose branches a new batch
    mispredicts (~50 ns per value against 257 knots in the worker, ~12 ns when the same
    values are searched again). Here a value's bucket of a uniform grid over the knots
    gives a lower bound of its interval, and at most ``steps`` branch-free passes
    (one knot each) finish the search; then numpy's own arithmetic,
    ``slope[j] * (x - xp[j]) + fp[j]``, with its slopes. A bucket's bound is exact:
    ``(x - xp[0]) * scale`` is monotone in ``x`` under rounding, so a knot in an earlier
    bucket than ``x`` is below ``x`` and one in a later bucket above it.

    ``of()`` returns None where buckets would hold more than ``MAX_STEPS`` knots (a
    heavy tail stretches the grid): those sketches keep ``np.interp``.
    """

    MAX_STEPS = 3
    BUCKETS_PER_KNOT = 4

    __slots__ = ("xp", "fp", "padded", "slopes", "start", "scale", "steps", "last")

    def __init__(self, xp: np.ndarray, fp: np.ndarray, start: np.ndarray, scale: float,
                 steps: int) -> None:
        self.xp, self.fp, self.start, self.scale, self.steps = xp, fp, start, scale, steps
        self.padded = np.append(xp, np.nan)  # never <= x: j stops at the last knot
        self.slopes = (fp[1:] - fp[:-1]) / (xp[1:] - xp[:-1])  # numpy's slopes
        self.last = len(start) - 1

    @classmethod
    def of(cls, xp: np.ndarray, fp: np.ndarray) -> KnotIndex | None:
        """The index of strictly increasing finite knots ``xp``, or None."""
        n = len(xp)
        buckets = cls.BUCKETS_PER_KNOT * n
        span = float(xp[-1] - xp[0]) if n >= 2 else 0.0
        scale = buckets / span if span > 0 else 0.0
        if not (scale > 0 and np.isfinite(scale) and np.isfinite(xp).all()):
            return None
        ids = cls._bucket(xp, xp[0], scale, buckets - 1)
        grid = np.arange(buckets)
        below = np.searchsorted(ids, grid, side="left")  # knots in earlier buckets
        steps = int((np.searchsorted(ids, grid, side="right") - below).max())
        if steps > cls.MAX_STEPS:
            return None
        start = np.maximum(below - 1, 0).astype(np.int16 if n < 2**15 else np.intp)
        return cls(xp, fp, start, scale, steps)

    @staticmethod
    def _bucket(x: np.ndarray, x0: float, scale: float, last: int) -> np.ndarray:
        t = (x - x0) * scale
        np.fmax(t, 0.0, out=t)  # fmax/fmin: a NaN lands in bucket 0 (and stays NaN)
        np.fmin(t, float(last), out=t)
        return t.astype(np.intp)

    def __call__(self, x: np.ndarray, left: float, right: float) -> np.ndarray:
        xp = self.xp
        j = self.start[self._bucket(x, xp[0], self.scale, self.last)].astype(np.intp)
        padded = self.padded
        for _ in range(self.steps):  # j = (knots <= x) - 1, for x >= xp[0]
            j += padded[j + 1] <= x
        np.minimum(j, len(xp) - 2, out=j)
        out = self.slopes[j] * (x - xp[j]) + self.fp[j]
        np.copyto(out, left, where=x < xp[0])
        np.copyto(out, right, where=x > xp[-1])
        np.copyto(out, self.fp[-1], where=x == xp[-1])
        return out


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
        self._index: KnotIndex | None = None  # built by the first large enough call
        self._indexed = False

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
        if len(x) >= _INDEX_MIN and not self._indexed:
            self._index, self._indexed = KnotIndex.of(self.xp, self.fp), True
        if self._index is not None and len(x) >= _INDEX_MIN:
            u = self._index(x, self._lo, self._hi)
        else:
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
            raise InvalidState("normal-score sketch has no knots or more than its reference")
        if np.any(np.diff(knots) < 0):
            raise InvalidState("normal-score sketch knots are not sorted")
        return cls.from_knots(knots, n)
