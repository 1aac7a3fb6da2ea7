"""Monitor of a model's numeric features' joint structure against its reference.

Per-feature monitors see each feature's distribution; a change of how features move
together (a correlation that flips, a pair that decouples, marginals unchanged) passes
them by. :class:`JointDriftMonitor` collects a reference of ``reference_size`` events,
learns scores, dependence and whitening from it (:mod:`.reference`), then feeds every
event's whitened vector to the two-rate likelihood-ratio CUSUM (:mod:`.cusum`),
calibrated to ``arl_events`` events between false alarms.

At most :data:`D_MAX` (16) features: the per-event cost is O(d^2) (and the reference
must be long enough to estimate d(d+1)/2 correlations: 50 events per entry, 6,800 at
d = 16). :func:`select_features` takes, beyond the cap, the first ``D_MAX`` numeric
features in name order (deterministic; the others stay with their own monitors).
Categorical features are left out: their joint structure with numbers is not a
covariance; events with a missing or non-finite value among the selected features
are skipped (counted in ``skipped``).

An alert names what moved most: the pair whose correlation changed most between the
reference and the current estimate (of the two rates, the one whose likelihood ratio
is the larger at the alarm), and the direction (a unit vector over the features) whose
variance changed most, with the ratio.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .cusum import JointCusum, threshold
from .reference import MARGINALS, JointReference

__all__ = ["D_MAX", "JointAlert", "JointDriftMonitor", "select_features"]

D_MAX = 16


def select_features(names: Sequence[str], d_max: int = D_MAX) -> list[str]:
    """The numeric features a joint monitor takes: the first ``d_max`` in name order.

    >>> select_features(["b", "a", "c"], 2)
    ['a', 'b']
    """
    return sorted(names)[:d_max]


@dataclass(frozen=True)
class JointAlert:
    """A detection of the joint-drift monitor."""

    position: int
    onset_position: int
    statistics: dict[str, Any] = field(default_factory=dict)
    detector: str = "joint_drift"


class JointDriftMonitor:
    """Joint drift of numeric features: learn a reference, then test every event.

    Examples
    --------
    >>> rng = np.random.default_rng(4)
    >>> r0 = np.array([[1.0, 0.8], [0.8, 1.0]]); r1 = np.array([[1.0, -0.8], [-0.8, 1.0]])
    >>> x = np.vstack([rng.multivariate_normal([0, 0], r0, 8000),
    ...                rng.multivariate_normal([0, 0], r1, 2000)])
    >>> mon = JointDriftMonitor(["a", "b"], reference_size=5000, arl_events=1e5)
    >>> a = mon.update(x)[0]
    >>> a.position, a.onset_position, a.statistics["pair"], a.statistics["reference_correlation"]
    (8001, 8000, ['a', 'b'], 0.795)
    """

    def __init__(self, features: Sequence[str], reference_size: int = 5000,
                 arl_events: float = 1e5, marginals: str = "normal") -> None:
        if not 1 <= len(features) <= D_MAX:
            raise ValueError(f"a joint monitor takes 1 to {D_MAX} features, got "
                             f"{len(features)}: pick them with select_features()")
        self.features = list(features)
        self.reference_size = int(reference_size)
        self.arl_events = float(arl_events)
        if marginals not in MARGINALS:
            raise ValueError(f"marginals must be one of {', '.join(MARGINALS)}, got "
                             f"{marginals!r}")
        self.marginals = marginals
        self.ref: JointReference | None = None
        self.cusum: JointCusum | None = None
        self._window: list[np.ndarray] = []
        self._window_pos: int | None = None
        self._last = np.zeros(len(features))
        self._onset = -1
        self.n = 0
        self.skipped = 0

    @property
    def d(self) -> int:
        return len(self.features)

    @property
    def learning(self) -> bool:
        return self.ref is None

    def calibrate(self, arl_events: float) -> None:
        """Give the monitor ``arl_events`` events between false alarms."""
        self.arl_events = float(arl_events)
        if self.cusum is not None:
            self.cusum.threshold = threshold(self.arl_events, self.d)

    def update(self, x: Any, positions: Any = None) -> list[JointAlert]:
        """Feed events as rows of feature values (columns in ``features`` order) with
        their positions (default: a count from 0); return alerts."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.d:
            raise ValueError(f"rows of {self.d} values ({', '.join(self.features)}) expected, "
                             f"got shape {x.shape}")
        pos = (np.arange(self.n, self.n + len(x), dtype=np.int64) if positions is None
               else np.asarray(positions, dtype=np.int64))
        self.n += len(x)
        ok = np.isfinite(x).all(axis=1)
        if not ok.all():
            self.skipped += int((~ok).sum())
            x, pos = x[ok], pos[ok]
        out: list[JointAlert] = []
        i = 0
        if self.ref is None:
            need = self.reference_size - sum(len(w) for w in self._window)
            self._window.append(x[:need])
            i = min(need, len(x))
            if need > len(x):
                return out
            ref = JointReference.fit(np.vstack(self._window), self.marginals)
            self.ref, self._window = ref, []
            self.cusum = JointCusum(self.d, threshold(self.arl_events, self.d))
            self._last = ref.whiten(x[i - 1 : i], self._last)[1] if i else self._last
        assert self.cusum is not None and self.ref is not None
        if i >= len(x):
            return out
        u, self._last = self.ref.whiten(x[i:], self._last)
        base = self.cusum.n
        alarms = self.cusum.feed(u)
        for (j, start), (cov, ll) in zip(alarms, self.cusum.at_alarms, strict=True):
            onset = int(pos[i + start - base]) if start >= base else self._onset
            out.append(JointAlert(int(pos[i + j]), onset, self._explain(cov, ll)))
        if self.cusum.s == 0:
            self._onset = -1  # no excursion: nothing to remember (same state in any batching)
        elif self.cusum.start >= base:
            self._onset = int(pos[i + self.cusum.start - base])
        return out

    def _explain(self, estimates: np.ndarray, ll: np.ndarray) -> dict[str, Any]:
        """What moved most, from the estimate whose likelihood ratio was the larger at
        the alarming event (``estimates`` are the EWMAs after it)."""
        ref, cus = self.ref, self.cusum
        assert ref is not None and cus is not None
        k = int(np.argmax(ll))
        sigma = estimates[k]
        cov = ref.chol @ sigma @ ref.chol.T
        sd = np.sqrt(np.diag(cov))
        corr = cov / np.outer(sd, sd)
        stats: dict[str, Any] = {"rate": float(cus.rates[k]), "threshold": cus.threshold,
                                 "arl_events": self.arl_events, "features": self.features}
        if self.d >= 2:
            change = np.abs(corr - ref.correlation)
            np.fill_diagonal(change, -1.0)
            a, b = np.unravel_index(int(np.argmax(change)), change.shape)
            a, b = min(a, b), max(a, b)
            stats.update(pair=[self.features[a], self.features[b]],
                         reference_correlation=round(float(ref.correlation[a, b]), 4),
                         current_correlation=round(float(corr[a, b]), 4))
        vals, vecs = np.linalg.eigh(sigma)
        top = int(np.argmax(np.abs(np.log(vals))))
        direction = ref.chol @ vecs[:, top]
        direction /= np.linalg.norm(direction)
        direction *= math.copysign(1.0, float(direction[np.argmax(np.abs(direction))]))
        stats.update(direction={f: round(float(v), 4) for f, v in zip(self.features,
                                                                       direction, strict=True)},
                     variance_ratio=round(float(vals[top]), 4))
        return stats

    def to_state(self) -> dict[str, Any]:
        return {"features": self.features, "settings": [self.reference_size, self.arl_events,
                                                        self.marginals],
                "ref": None if self.ref is None else self.ref.to_state(),
                "cusum": None if self.cusum is None else self.cusum.to_state(),
                "window": np.vstack(self._window).tolist() if self._window else [],
                "last": self._last.tolist(), "i": [self._onset, self.n, self.skipped]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> JointDriftMonitor:
        size, arl, marginals = state["settings"]
        mon = cls(state["features"], int(size), float(arl), str(marginals))
        mon.ref = None if state["ref"] is None else JointReference.from_state(state["ref"])
        mon.cusum = None if state["cusum"] is None else JointCusum.from_state(state["cusum"])
        window = np.asarray(state["window"], dtype=np.float64).reshape(-1, mon.d)
        mon._window = [window] if len(window) else []
        mon._last = np.asarray(state["last"], dtype=np.float64)
        mon._onset, mon.n, mon.skipped = (int(v) for v in state["i"])
        if (mon.ref is None) != (mon.cusum is None) or len(mon._last) != mon.d:
            raise ValueError("joint monitor state: reference and CUSUM out of step")
        return mon
