"""What the joint-drift monitor learns from its reference: scores, dependence, whitening.

Three maps turn an event's numeric features into a vector ``u`` that is N(0, I) and
independent from event to event on a stable stream:

* **marginal scores**, per feature (``marginals``). ``"auto"`` (the default) standardises
  a feature linearly (reference mean and sd) when its reference is close to normal
  (Shapiro-Francia ``W' >= 0.995``: the squared correlation of the sorted values with
  normal quantiles) or has too few distinct values for a quantile sketch, and maps it to
  normal scores through a 129-knot quantile sketch of the reference otherwise (skewed or
  heavy-tailed features). ``"normal"`` and ``"linear"`` force one map; ``"given"`` takes
  values that are scores already and only centres them. Why not normal scores for
  everything: the sketch's tail knots carry sampling noise (more on a dependent
  reference), and in a direction of tiny variance (two features correlated 0.985, whose
  difference has 3% of their variance) that noise is as large as the signal: 0.42x the
  budget on AR(1) streams in ``benchmarks/results/multivariate.md``, where a linear
  standardisation keeps it. A constant feature is left out (``columns`` are the kept
  ones), and so is a feature whose level wanders over the reference (:func:`wandering`:
  a cycle or trend longer than the reference, which no stationary model whitens);
* **prewhitening in time**: a VAR(1) ``z_t = A z_{t-1} + e_t`` fitted by least squares
  on the reference, kept when BIC prefers it to independence. Autocorrelated features
  (AR(1) phi = 0.6: products of such scores have a lag-one correlation of phi^2, so an
  EWMA of them varies ``(1 + phi^2) / (1 - phi^2)`` = 2.1 times as much) then test
  their innovations, which are independent; a change of the features' correlation
  changes their innovations' correlation too;
* **whitening across features**: ``u = L^-1 e`` with ``L`` the Cholesky factor of the
  innovations' reference covariance.

Products with these matrices are taken row by row (multiply and sum), not by a matrix
product whose blocking may depend on the number of rows: the vectors are bit-identical
however a stream is cut into batches. The state holds d x 129 knots and three d x d
matrices: independent of the reference size.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np

from ..errors import InvalidSetting, InvalidState
from ..stats import level_wander

__all__ = ["JOINT_KNOTS", "MARGINALS", "JointReference", "joint_reference_size", "wandering"]

MARGINALS = ("auto", "normal", "linear", "given")
JOINT_KNOTS = 129
_LEVELS = (np.arange(JOINT_KNOTS) + 0.5) / JOINT_KNOTS
_ZLEVELS = np.array([NormalDist().inv_cdf(float(p)) for p in _LEVELS])
# Scores beyond the reference's extreme knots continue linearly, up to this many sd.
_Z_CAP = 8.0
# Shapiro-Francia W' at or above this: the feature is standardised linearly ("auto").
# A normal sample of 2,000 has W' ~ 0.999; lognormal(0, 0.5) ~ 0.95, uniform ~ 0.98.
_NEAR_NORMAL = 0.995
# Reference events per estimated covariance entry, and the floor.
_PER_ENTRY = 50
_MIN_EVENTS = 500


def joint_reference_size(d: int, wanted: int) -> int:
    """Events a joint reference of ``d`` features learns from: ``wanted``, and at least
    50 per covariance entry (d(d+1)/2) and 500.

    >>> joint_reference_size(2, 5000), joint_reference_size(16, 5000)
    (5000, 6800)
    """
    return max(int(wanted), _PER_ENTRY * d * (d + 1) // 2, _MIN_EVENTS)


def wandering(x: np.ndarray, block: int = 16) -> list[bool]:
    """Per column of a reference: does its level wander (a cycle or a trend longer than
    the reference)? Each column is standardised and prewhitened by its own AR(1) fit,
    then :func:`~streamproc.core.stats.level_wander` tests the means of coarse blocks of
    the innovations for more spread than independent values leave. Short-range
    dependence (an AR(1) of any coefficient) is whitened away and passes; a sine of a
    period longer than the reference, or a drift, does not.

    >>> rng = np.random.default_rng(2)
    >>> t = np.arange(1000)
    >>> x = np.stack([rng.normal(size=1000), 3 * np.sin(t / 230) + rng.normal(size=1000)], 1)
    >>> wandering(x)
    [False, True]
    """
    out = []
    for col in np.asarray(x, dtype=np.float64).T:
        sd = float(np.std(col))
        if sd == 0:
            out.append(False)
            continue
        z = (col - col.mean()) / sd
        a = float(np.dot(z[1:], z[:-1]) / max(float(np.dot(z[:-1], z[:-1])), 1e-300))
        e = z[1:] - a * z[:-1]
        e = e / max(float(np.std(e)), 1e-300)
        out.append(level_wander([e], block)[0] > 0)
    return out


def _shapiro_francia(col: np.ndarray) -> float:
    n = len(col)
    m = np.array([NormalDist().inv_cdf((i + 0.625) / (n + 0.25)) for i in range(n)])
    r = np.corrcoef(np.sort(col), m)[0, 1]
    return float(r * r) if math.isfinite(r) else 0.0


def _rows(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``x @ m.T`` row by row (see the module text)."""
    return (x[:, None, :] * m[None, :, :]).sum(axis=2)


class JointReference:
    """Scores, VAR(1) prewhitening and whitening learnt from a reference matrix.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.multivariate_normal([5, -1], [[4, 1.8], [1.8, 1]], 5000)
    >>> x[:, 1] = np.exp(x[:, 1])  # a skewed feature: normal scores
    >>> ref = JointReference.fit(x)
    >>> u = ref.whiten(x, np.zeros(2))[0]
    >>> ref.kinds, (np.round(np.cov(u.T), 2) + 0.0).tolist(), ref.var is None
    (['linear', 'normal'], [[1.0, 0.0], [0.0, 1.0]], True)
    """

    def __init__(self, columns: list[int], kinds: list[str], knots: np.ndarray,
                 centre: np.ndarray, scale: np.ndarray, var: np.ndarray | None,
                 chol: np.ndarray, n: int) -> None:
        d = len(columns)
        if chol.shape != (d, d) or knots.shape != (d, JOINT_KNOTS) or len(kinds) != d or (
                centre.shape != (d,) or scale.shape != (d,)
                or (var is not None and var.shape != (d, d))):
            raise InvalidState("joint reference: matrices of mismatched sizes")
        self.columns = columns  # which of the monitor's features are kept
        self.kinds = kinds  # per kept feature: "normal", "linear" or "given"
        self.knots = knots  # normal-score knots (rows of "linear"/"given" unused)
        self.centre = centre
        self.scale = scale
        self.var = var  # A of z_t = A z_{t-1} + e_t, or None (independent)
        self.chol = chol  # L: innovations' covariance = L L^T
        self.inv_chol = np.linalg.inv(chol)
        self.n = n
        sd = np.sqrt(np.sum(chol * chol, axis=1))
        self.correlation = (chol @ chol.T) / np.outer(sd, sd)
        self._normal = np.array([k == "normal" for k in kinds])

    @property
    def d(self) -> int:
        return len(self.columns)

    @classmethod
    def fit(cls, x: np.ndarray, marginals: str = "auto",
            exclude: tuple[int, ...] = ()) -> JointReference:
        """Learn from ``(n, features)`` finite values in time order, leaving out the
        columns ``exclude``; InvalidSetting when fewer than two features vary or the
        reference is too short for them."""
        x = np.asarray(x, dtype=np.float64)
        if marginals not in MARGINALS:
            raise InvalidSetting(f"marginals must be one of {', '.join(MARGINALS)}, got "
                                 f"{marginals!r}")
        if x.ndim != 2 or not np.isfinite(x).all():
            raise InvalidSetting("joint reference values must be finite rows: drop "
                                 "incomplete events")
        n = len(x)
        columns = [j for j in range(x.shape[1]) if np.ptp(x[:, j]) > 0 and j not in exclude]
        d = len(columns)
        if d < 2 or n < joint_reference_size(d, 0):
            raise InvalidSetting(f"a joint reference needs two varying features and at least "
                                 f"{joint_reference_size(max(d, 2), 0)} events, got {d} and {n}")
        x = x[:, columns]
        quantiles = np.quantile(x, _LEVELS, axis=0).T.copy()
        kinds: list[str] = []
        for j in range(d):
            kind = "linear" if marginals == "auto" else marginals
            if marginals in ("auto", "normal") and np.all(np.diff(quantiles[j]) > 0) and (
                    marginals == "normal" or _shapiro_francia(x[:, j]) < _NEAR_NORMAL):
                kind = "normal"
            elif marginals == "normal":
                kind = "linear"  # ties across quantiles: too few distinct values
            kinds.append(kind)
        normal = np.array([k == "normal" for k in kinds])
        scale = np.where(np.array([k == "linear" for k in kinds]), x.std(axis=0), 1.0)
        knots = np.where(normal[:, None], quantiles, 0.0)
        z = np.where(normal[None, :], _scores(x, knots), x / scale[None, :])
        centre = z.mean(axis=0)
        z = z - centre
        var = None
        s0 = np.cov(z.T, bias=True).reshape(d, d)
        prev, cur = z[:-1], z[1:]
        a = np.linalg.lstsq(prev, cur, rcond=None)[0].T
        res = cur - prev @ a.T
        s1 = np.cov(res.T, bias=True).reshape(d, d)
        m = n - 1
        if m * np.linalg.slogdet(s1)[1] + d * d * math.log(m) < m * np.linalg.slogdet(s0)[1]:
            var, cov = a, s1
        else:
            cov = s0
        try:
            chol = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            raise InvalidSetting("the joint reference's features are linearly dependent (one "
                                 "is a combination of others): nothing to whiten") from None
        return cls(columns, kinds, knots, centre, scale, var, chol, n)

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Centred marginal scores of events ``x`` (the kept columns)."""
        z = x / self.scale[None, :]
        if self._normal.any():
            z = np.where(self._normal[None, :], _scores(x, self.knots), z)
        return z - self.centre

    def whiten(self, x: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(u, last score vector) of events ``x`` (kept columns) following the score
        vector ``last``."""
        z = self.scores(np.asarray(x, dtype=np.float64))
        if self.var is not None:
            prev = np.concatenate([last[None, :], z[:-1]])
            e = z - _rows(prev, self.var)
        else:
            e = z
        return _rows(e, self.inv_chol), (z[-1].copy() if len(z) else last)

    def to_state(self) -> dict[str, Any]:
        return {"columns": self.columns, "kinds": self.kinds, "knots": self.knots.tolist(),
                "centre": self.centre.tolist(), "scale": self.scale.tolist(),
                "var": None if self.var is None else self.var.tolist(),
                "chol": self.chol.tolist(), "n": self.n}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> JointReference:
        var = state["var"]
        return cls([int(c) for c in state["columns"]], [str(k) for k in state["kinds"]],
                   np.asarray(state["knots"], dtype=np.float64),
                   np.asarray(state["centre"], dtype=np.float64),
                   np.asarray(state["scale"], dtype=np.float64),
                   None if var is None else np.asarray(var, dtype=np.float64),
                   np.asarray(state["chol"], dtype=np.float64), int(state["n"]))


def _scores(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Normal scores of the columns of ``x`` against per-feature knots (d x KNOTS), linear
    beyond the extreme knots; columns whose knots are all zero (unused) give zeros."""
    z = np.zeros_like(x)
    for j in range(x.shape[1]):
        k = knots[j]
        if not k.any():
            continue
        col = x[:, j]
        zj = np.interp(col, k, _ZLEVELS)
        lo = (_ZLEVELS[1] - _ZLEVELS[0]) / max(k[1] - k[0], 1e-300)
        hi = (_ZLEVELS[-1] - _ZLEVELS[-2]) / max(k[-1] - k[-2], 1e-300)
        zj = np.where(col < k[0], _ZLEVELS[0] + (col - k[0]) * lo, zj)
        zj = np.where(col > k[-1], _ZLEVELS[-1] + (col - k[-1]) * hi, zj)
        z[:, j] = zj
    return np.clip(z, -_Z_CAP, _Z_CAP)
