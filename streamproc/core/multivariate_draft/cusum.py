"""The joint-drift statistic: a CUSUM of predictable likelihood ratios, at two rates.

On a stable stream the whitened vectors ``u_t`` (:mod:`.reference`) are N(0, I). A
change of the features' joint structure makes them N(0, Sigma) with Sigma != I. Two
EWMAs of the outer products, ``Sigma_t = (1 - lam) Sigma_{t-1} + lam u_t u_t^T``
started at ``I`` (a fast one, lam = 0.2, for a flip that shows in an event or two; a
slow one, lam = 0.02, for a change of 0.3 in ten features' correlations), estimate
Sigma from the events *before* t. Each event's increment is the log-likelihood ratio
of the equal mixture of the two estimates against the null::

    W_t = log( (N(u_t; 0, Sigma^fast_{t-1}) + N(u_t; 0, Sigma^slow_{t-1})) / 2
               / N(u_t; 0, I) )

and the CUSUM is ``S_t = max(0, S_{t-1} + W_t)``. Because the alternatives are
predictable, ``E[exp(W_t) | past] = 1`` exactly under the null, for any d and any
rates: the walk's Cramér exponent is 1 and a false alarm needs an excursion of height
``h``, whose chance per event is ``c_d exp(-h)`` (renewal theory). ``c_d`` is measured
once per dimension by simulation (:func:`rate_constant`, tabulated in
:data:`RATE_CONSTANTS`), so that ``h = ln(c_d ARL)`` keeps a budget of ``ARL`` events
(Lorden's ``h = ln ARL`` would be 10 to 30 times too conservative here).

Cost per event O(d^2) amortised: the estimates are updated as EWMAs, their inverses
and log-determinants by Sherman-Morrison and the matrix determinant lemma. That
recursion (RLS with forgetting) amplifies rounding errors by ``1 / (1 - lam)`` per
event in the directions the event does not touch, so every ``_REFRESH`` (32) events,
counted from the start of the stream so that batch cuts do not matter, the inverses
and log-determinants are recomputed from the EWMAs by Cholesky (O(d^3) / 32). The
loop is sequential per event, hence identical however a stream is cut into batches.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["RATES", "RATE_CONSTANTS", "JointCusum", "rate_constant", "threshold"]

RATES = (0.2, 0.02)
_REFRESH = 32
# c_d of the default RATES for d = 1..16: false alarms per event = c_d exp(-h). Made by
# ``python -m streamproc.core.multivariate_draft.cusum`` (rate_constant, seed 0, 400k
# events each; ~10% sampling error, hence the non-monotone wiggle).
RATE_CONSTANTS: dict[int, float] = {
    1: 0.009509, 2: 0.03057, 3: 0.04153, 4: 0.07024, 5: 0.08067, 6: 0.09638, 7: 0.1257,
    8: 0.1091, 9: 0.1208, 10: 0.1135, 11: 0.1047, 12: 0.1098, 13: 0.1066, 14: 0.103,
    15: 0.09466, 16: 0.08529,
}


class JointCusum:
    """CUSUM of the two-rate mixture likelihood ratio of whitened vectors.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> cus = JointCusum(2, threshold=9.0)
    >>> u = rng.normal(size=(3000, 2))
    >>> u[2000:, 1] *= -1; u[2000:] = u[2000:] @ np.array([[1, 0.9], [0, 0.44]])
    >>> alarms = cus.feed(u)  # (event, first event of the excursion); restarts after each
    >>> alarms[0], len([a for a in alarms if a[0] < 2000])
    ((2022, 2001), 0)
    """

    def __init__(self, d: int, threshold: float, rates: tuple[float, ...] = RATES) -> None:
        if not threshold > 0:
            raise ValueError(f"joint CUSUM threshold must be positive, got {threshold!r}")
        self.d = int(d)
        self.threshold = float(threshold)
        self.rates = np.asarray(rates, dtype=np.float64)
        k = len(rates)
        self.cov = np.broadcast_to(np.eye(d), (k, d, d)).copy()  # Sigma_k
        self.inv = self.cov.copy()  # Sigma_k^-1
        self.logdet = np.zeros(k)
        self.s = 0.0
        self.n = 0
        self.start = 0
        self.last = np.zeros(k)  # each estimate's log-likelihood ratio at the last event
        self.at_alarms: list[tuple[np.ndarray, np.ndarray]] = []

    def feed(self, u: np.ndarray) -> list[tuple[int, int]]:
        """Consume whitened vectors; (index in ``u``, excursion's first index since the
        start of the stream) per alarm. The statistic restarts after an alarm; the
        estimates go on (they are the in-control process's, whatever alarmed).
        ``at_alarms`` then holds, per alarm, the estimates and their log-likelihood
        ratios at the alarming event (what an alert explains)."""
        out = []
        self.at_alarms: list[tuple[np.ndarray, np.ndarray]] = []
        rates = self.rates
        scale = rates / (1.0 - rates)
        dlog = self.d * np.log1p(-rates)
        k_log = math.log(len(rates))
        inv, logdet, cov = self.inv, self.logdet, self.cov
        lam = rates[:, None, None]
        for i, row in enumerate(u):
            q = inv @ row  # (k, d)
            uau = q @ row  # (k,)
            ll = -0.5 * logdet - 0.5 * (uau - float(row @ row))
            top = float(ll.max())
            w = top + math.log(float(np.exp(ll - top).sum())) - k_log
            self.last = ll
            coef = scale / (1.0 + scale * uau)
            inv -= coef[:, None, None] * q[:, :, None] * q[:, None, :]
            inv /= (1.0 - rates)[:, None, None]
            logdet += dlog + np.log1p(scale * uau)
            cov += lam * (np.outer(row, row)[None] - cov)
            self.n += 1
            if self.s == 0.0:
                self.start = self.n - 1
            self.s = max(0.0, self.s + w)
            if self.s > self.threshold:
                out.append((i, self.start))
                self.at_alarms.append((cov.copy(), ll.copy()))
                self.s = 0.0
            if self.n % _REFRESH == 0:
                chol = np.linalg.cholesky(cov)
                logdet[:] = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
                inv[:] = np.linalg.inv(cov)
        return out

    def estimates(self) -> np.ndarray:
        """``(k, d, d)``: the current covariance estimates of ``u`` (one per rate)."""
        return self.cov.copy()

    def to_state(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "rates": self.rates.tolist(),
                "cov": self.cov.tolist(), "inv": self.inv.tolist(), "logdet": self.logdet.tolist(),
                "last": self.last.tolist(), "s": self.s, "n": self.n, "start": self.start}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> JointCusum:
        inv = np.asarray(state["inv"], dtype=np.float64)
        c = cls(inv.shape[1], float(state["threshold"]), tuple(state["rates"]))
        if inv.shape != c.inv.shape:
            raise ValueError("joint CUSUM state: estimates of the wrong shape")
        c.inv, c.logdet = inv, np.asarray(state["logdet"], dtype=np.float64)
        c.cov = np.asarray(state["cov"], dtype=np.float64).reshape(inv.shape)
        c.last = np.asarray(state["last"], dtype=np.float64)
        c.s, c.n, c.start = float(state["s"]), int(state["n"]), int(state["start"])
        if c.s < 0 or not 0 <= c.start <= c.n:
            raise ValueError("joint CUSUM state: a negative statistic or an onset out of range")
        return c


def rate_constant(d: int, events: int = 400_000, seed: int = 0,
                  rates: tuple[float, ...] = RATES) -> float:
    """``c_d``: simulated excursions of the statistic on N(0, I) vectors, whose rate of
    reaching a height ``h`` is fitted as ``c_d exp(-h)`` over h in [4, 7]."""
    rng = np.random.default_rng(seed)
    cus = JointCusum(d, threshold=1e300, rates=rates)
    heights: list[float] = []
    top = 0.0
    for _ in range(events // 10_000):
        for row in rng.normal(size=(10_000, d)):
            cus.feed(row[None, :])
            if cus.s == 0.0 and top > 0.0:
                heights.append(top)
                top = 0.0
            top = max(top, cus.s)
    h = np.asarray(heights)
    grid = np.linspace(4.0, 7.0, 7)
    counts = np.array([(h > g).sum() for g in grid], dtype=np.float64)
    ok = counts >= 10
    return float(np.exp(np.mean(np.log(counts[ok] / events) + grid[ok])))


def threshold(arl_events: float, d: int) -> float:
    """``h`` for ``arl_events`` events between false alarms in dimension ``d``.

    >>> round(threshold(20_000, 2), 2) < round(math.log(20_000), 2)
    True
    """
    if arl_events <= 1:
        raise ValueError(f"arl must exceed 1 event, got {arl_events!r}")
    c = RATE_CONSTANTS.get(d)
    if c is None:
        c = rate_constant(d)
        RATE_CONSTANTS[d] = c
    return math.log(max(c * arl_events, math.e))


if __name__ == "__main__":
    for dim in range(1, 17):
        print(f"    {dim}: {rate_constant(dim):.4g},", flush=True)
