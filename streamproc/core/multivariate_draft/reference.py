"""What the joint-drift monitor learns from its reference: scores, dependence, whitening.

Three maps turn an event's numeric features into a vector ``u`` that is N(0, I) and
independent from event to event on a stable stream:

* **marginal scores** (``marginals``): ``"normal"`` (default) maps each feature
  through the normal quantiles of its place in the reference distribution (a 129-knot
  quantile sketch, as the numeric monitors' ``streamproc.core.scores`` does with
  257), so skewed features behave as N(0, 1) ones; ``"linear"`` standardises by the
  reference mean and sd; ``"given"`` takes values that are scores already (the
  numeric monitors' normal scores) and only centres them. The sketch's tail knots
  carry sampling noise (more on a dependent reference); in a direction of tiny
  variance (two features correlated 0.985) that noise is as large as the signal and
  costs false alarms (benchmarks/results/multivariate.md): ``"linear"`` is then the
  better choice for near-Gaussian features;
* **prewhitening in time**: a VAR(1) ``z_t = A z_{t-1} + e_t`` fitted by least squares
  on the reference, kept when BIC prefers it to independence. Autocorrelated features
  (AR(1) phi = 0.6: products of such scores have a lag-one correlation of phi^2, so an
  EWMA of them varies ``(1 + phi^2) / (1 - phi^2)`` = 2.1 times as much) then test
  their innovations, which are independent; a change of the features' correlation
  changes their innovations' correlation too;
* **whitening across features**: ``u = L^-1 e`` with ``L`` the Cholesky factor of the
  innovations' reference covariance.

The state holds d x 129 knots and two d x d matrices: independent of the reference size.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np

__all__ = ["KNOTS", "MARGINALS", "JointReference"]

MARGINALS = ("normal", "linear", "given")

KNOTS = 129
_LEVELS = (np.arange(KNOTS) + 0.5) / KNOTS
_ZLEVELS = np.array([NormalDist().inv_cdf(float(p)) for p in _LEVELS])
# Scores beyond the reference's extreme knots continue linearly, up to this many sd.
_Z_CAP = 8.0


def _scores(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Normal scores of the columns of ``x`` against per-feature knots (d x KNOTS)."""
    z = np.empty_like(x)
    for j in range(x.shape[1]):
        k = knots[j]
        col = x[:, j]
        zj = np.interp(col, k, _ZLEVELS)
        lo = (_ZLEVELS[1] - _ZLEVELS[0]) / max(k[1] - k[0], 1e-300)
        hi = (_ZLEVELS[-1] - _ZLEVELS[-2]) / max(k[-1] - k[-2], 1e-300)
        zj = np.where(col < k[0], _ZLEVELS[0] + (col - k[0]) * lo, zj)
        zj = np.where(col > k[-1], _ZLEVELS[-1] + (col - k[-1]) * hi, zj)
        z[:, j] = zj
    return np.clip(z, -_Z_CAP, _Z_CAP)


class JointReference:
    """Scores, VAR(1) prewhitening and whitening learnt from a reference matrix.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.multivariate_normal([5, -1], [[4, 1.8], [1.8, 1]], 5000)
    >>> ref = JointReference.fit(x)
    >>> u = ref.whiten(x, np.zeros(2))[0]
    >>> np.round(np.cov(u.T), 2).tolist(), ref.var is None
    ([[1.0, -0.0], [-0.0, 1.0]], True)
    """

    def __init__(self, knots: np.ndarray | None, var: np.ndarray | None, chol: np.ndarray,
                 n: int, centre: np.ndarray | None = None,
                 scale: np.ndarray | None = None) -> None:
        self.knots = knots
        self.centre = np.zeros(chol.shape[0]) if centre is None else centre
        self.scale = np.ones(chol.shape[0]) if scale is None else scale
        self.var = var  # A of z_t = A z_{t-1} + e_t, or None (independent)
        self.chol = chol  # L: innovations' covariance = L L^T
        self.inv_chol = np.linalg.inv(chol)
        self.n = n
        sd = np.sqrt(np.sum(chol * chol, axis=1))
        self.correlation = (chol @ chol.T) / np.outer(sd, sd)

    @property
    def d(self) -> int:
        return self.chol.shape[0]

    @classmethod
    def fit(cls, x: np.ndarray, marginals: str = "normal") -> JointReference:
        x = np.asarray(x, dtype=np.float64)
        n, d = x.shape
        if n < 50 * d * (d + 1) // 2 or n < 500:
            raise ValueError(f"a joint reference of {d} features needs at least "
                             f"{max(500, 50 * d * (d + 1) // 2)} events, got {n}: give it a "
                             "longer reference or fewer features")
        if not np.isfinite(x).all():
            raise ValueError("joint reference values must be finite: drop incomplete events")
        if marginals not in MARGINALS:
            raise ValueError(f"marginals must be one of {', '.join(MARGINALS)}, got "
                             f"{marginals!r}")
        knots = None
        scale = np.ones(d)
        if marginals == "normal":
            knots = np.quantile(x, _LEVELS, axis=0).T.copy()
            if np.any(np.diff(knots, axis=1) <= 0):
                raise ValueError("a feature of the joint reference has ties across quantiles "
                                 "(few distinct values): leave it to the categorical monitors")
            z = _scores(x, knots)
        else:
            if marginals == "linear":
                scale = x.std(axis=0)
                if np.any(scale <= 0):
                    raise ValueError("a feature of the joint reference is constant: leave it out")
            z = x / scale
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
        return cls(knots, var, np.linalg.cholesky(cov), n, centre, scale)

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Centred scores (normal scores, or the given ones) of events ``x``."""
        z = x / self.scale if self.knots is None else _scores(x, self.knots)
        return z - self.centre

    def whiten(self, x: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(u, last score vector) of events ``x`` following the score vector ``last``."""
        z = self.scores(np.asarray(x, dtype=np.float64))
        if self.var is not None:
            prev = np.vstack([last[None, :], z[:-1]])
            e = z - prev @ self.var.T
        else:
            e = z
        return e @ self.inv_chol.T, (z[-1] if len(z) else last)

    def to_state(self) -> dict[str, Any]:
        return {"knots": None if self.knots is None else self.knots.tolist(),
                "var": None if self.var is None else self.var.tolist(),
                "chol": self.chol.tolist(), "n": self.n, "centre": self.centre.tolist(),
                "scale": self.scale.tolist()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> JointReference:
        chol = np.asarray(state["chol"], dtype=np.float64)
        d = chol.shape[0]
        knots = None if state["knots"] is None else np.asarray(state["knots"], dtype=np.float64)
        var = None if state["var"] is None else np.asarray(state["var"], dtype=np.float64)
        if chol.shape != (d, d) or (knots is not None and knots.shape != (d, KNOTS)) or (
                var is not None and var.shape != (d, d)):
            raise ValueError("joint reference state: matrices of mismatched sizes")
        centre = np.asarray(state["centre"], dtype=np.float64)
        scale = np.asarray(state["scale"], dtype=np.float64)
        if centre.shape != (d,) or scale.shape != (d,):
            raise ValueError("joint reference state: a centre or scale of the wrong size")
        return cls(knots, var, chol, int(state["n"]), centre, scale)
