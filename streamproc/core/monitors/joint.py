"""Monitor of a model's numeric features' joint structure against its reference.

Per-feature monitors see each feature's distribution; a change of how features move
together (a correlation that flips, a pair that decouples, marginals unchanged) passes
them by. :class:`JointMonitor` collects a reference of at least ``reference_size``
complete events (and 50 per covariance entry, see
:func:`~streamproc.core.reference.joint_reference_size`), learns scores, dependence and
whitening from it (:class:`~streamproc.core.reference.JointReference`), then turns every
event into a log-likelihood ratio of two EWMA covariance estimates against the reference
(:class:`~streamproc.core.stats.JointLikelihood`) for the ``joint_drift`` CUSUM.

At most :data:`D_MAX` (16) features: the per-event cost is O(d^2) and the reference
must estimate d(d+1)/2 correlations. Beyond the cap it takes the first ``D_MAX``
numeric features in name order (:func:`select_features`); categorical features are left
out (their joint structure with numbers is not a covariance), and so is, for one
reference, a feature whose level wanders over it (a cycle or trend longer than the
reference: :func:`~streamproc.core.reference.wandering`), which the test's stationary
null cannot hold for (the feature's own monitor handles it; ``left_out`` in an alert's
reference names it). An event with a missing or non-numeric value among its features is
skipped (counted in ``skipped``).

An alert names what moved most: the pair whose correlation changed most between the
reference and the estimate (of the two rates, the one whose likelihood ratio is the
larger at the alarming event), and the direction (a unit vector over the features) whose
variance changed most, with the ratio. After an alert the monitor learns a new
reference (re-baselining, as the other monitors do); a suppressed one keeps it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..contracts import Detection
from ..detectors import Detector, FitContext, LikelihoodRatios, TagView, build, detector_class
from ..errors import InvalidSetting
from ..reference import JointReference, joint_reference_size, wandering
from ..settings import MonitorSettings
from ..snapshot_arrays import pack, unpack
from ..stats import JointLikelihood
from .alarms import apply_cooldown, make_detection
from .contract import Monitor
from .estimation_window import extend_span
from .race import race

__all__ = ["D_MAX", "JointMonitor", "select_features"]

D_MAX = 16


def select_features(names: Sequence[str], d_max: int = D_MAX) -> list[str]:
    """The numeric features a joint monitor takes: the first ``d_max`` in name order.

    >>> select_features(["b", "a", "c"], 2)
    ['a', 'b']
    """
    return sorted(names)[:d_max]


def as_matrix(columns: Sequence[Sequence[Any]]) -> np.ndarray:
    """Rows of feature values (one column per feature); NaN where a value is missing
    or not a number (booleans included)."""
    def num(v: Any) -> float:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        return float(v) if ok else math.nan

    return np.array([[num(v) for v in col] for col in columns], dtype=np.float64).T.reshape(
        -1, len(columns))


class JointMonitor(Monitor):
    """Joint drift of numeric features: learn a reference, then test every event.

    Examples
    --------
    >>> rng = np.random.default_rng(4)
    >>> r0 = np.array([[1.0, 0.8], [0.8, 1.0]]); r1 = np.array([[1.0, -0.8], [-0.8, 1.0]])
    >>> x = np.vstack([rng.multivariate_normal([0, 0], r0, 8000),
    ...                rng.multivariate_normal([0, 0], r1, 2000)])
    >>> mon = JointMonitor(MonitorSettings(reference_size=5000), ["a", "b"])
    >>> mon.calibrate(1e5)
    >>> pos = np.arange(10_000)
    >>> d = mon.update(x, pos, pos * 1.0)[0]
    >>> d.signal, d.detector, d.position, d.statistics["pair"]
    ('multivariate', 'joint_drift', 8001, ['a', 'b'])
    """

    signal = "multivariate"

    def __init__(self, settings: MonitorSettings, features: Sequence[str],
                 marginals: str = "auto") -> None:
        if not 2 <= len(features) <= D_MAX:
            raise InvalidSetting(f"a joint monitor takes 2 to {D_MAX} features, got "
                                 f"{len(features)}")
        self.settings = settings
        self.features = list(features)
        self.marginals = marginals
        self.reference_n = joint_reference_size(len(features), settings.reference_size)
        self._arl = float(settings.budget.events)
        self.ref: JointReference | None = None
        self.lik: JointLikelihood | None = None
        self._det: Detector | None = None
        self._window: list[np.ndarray] = []
        self.span: dict[str, Any] = {}  # positions, times and offsets of the reference
        self.excluded: list[str] = []  # features whose level wanders over the reference
        self._last = np.zeros(0)
        self._last_alert: dict[str, list[int]] = {}
        self._detectable_from: int | None = None
        self.n = 0
        self.skipped = 0
        self.detections = 0

    # -- the Monitor face ----------------------------------------------------------------
    @property
    def detector_names(self) -> list[str]:
        return ["joint_drift"]

    @property
    def n_detectors(self) -> int:
        return 1

    def calibrate(self, arl_events: float) -> None:
        self._arl = float(arl_events)
        if self._det is not None:
            self._det.calibrate(self._arl)

    @property
    def learning(self) -> bool:
        return self.ref is None

    @property
    def dependence(self) -> float | None:
        """``(1 + r) / (1 - r)`` with ``r`` the spectral radius of the reference's VAR(1)
        (the variance inflation of an AR(1) of that coefficient; 1: independent)."""
        if self.ref is None:
            return None
        if self.ref.var is None:
            return 1.0
        r = min(float(np.max(np.abs(np.linalg.eigvals(self.ref.var)))), 0.99)
        return (1.0 + r) / (1.0 - r)

    @property
    def observations(self) -> int:
        return self.n

    def scores(self) -> dict[str, float]:
        return {} if self._det is None or self._det.score is None else {
            "joint_drift": float(self._det.score)}

    # -- update --------------------------------------------------------------------------
    def update(self, x: np.ndarray, pos: np.ndarray, ts: np.ndarray,
               off: np.ndarray | None = None) -> list[Detection]:
        """Feed rows of feature values (columns in ``features`` order) with their event
        positions and times (and source offsets); return detections in position order."""
        self.n += len(x)
        ok = np.isfinite(x).all(axis=1)
        if not ok.all():
            self.skipped += int((~ok).sum())
            x, pos, ts = x[ok], pos[ok], ts[ok]
            off = None if off is None else off[ok]
        out: list[Detection] = []
        i = 0
        while i < len(x):
            if self.ref is None:
                i = self._collect(x, pos, ts, off, i)
                continue
            i = self._test(x, pos, ts, i, out)
        return out

    def _collect(self, x: np.ndarray, pos: np.ndarray, ts: np.ndarray,
                 off: np.ndarray | None, i: int) -> int:
        need = self.reference_n - sum(len(w) for w in self._window)
        self._window.append(x[i:i + need])
        end = min(i + need, len(x))
        extend_span(self.span, pos, ts, off, i, end)
        if end - i < need:
            return end
        sample, self._window = np.vstack(self._window), []
        wanders = wandering(sample, self.settings.block_size)
        self.excluded = [f for f, w in zip(self.features, wanders, strict=True) if w]
        try:
            ref = JointReference.fit(sample, self.marginals,
                                     tuple(j for j, w in enumerate(wanders) if w))
        except InvalidSetting:  # constant or collinear features: learn from the next window
            self.span = {}
            return end
        self.ref, self.lik = ref, JointLikelihood(ref.d)
        # The score vector of the reference's last event: what the next one's VAR(1)
        # prediction starts from.
        self._last = ref.whiten(sample[-1:, ref.columns], np.zeros(ref.d))[1]
        self._det = build(["joint_drift"], FitContext(self.settings, self._arl,
                                                       {"d": ref.d}))[0]
        if self._detectable_from is None:
            self._detectable_from = int(pos[end - 1]) + 1
        return end

    def _test(self, x: np.ndarray, pos: np.ndarray, ts: np.ndarray, i: int,
              out: list[Detection]) -> int:
        ref, lik, det = self.ref, self.lik, self._det
        assert ref is not None and lik is not None and det is not None
        u, self._last = ref.whiten(x[i:, ref.columns], self._last)
        w = lik.feed(u)
        k = 0
        while k < len(w):
            hit = race([([det], LikelihoodRatios(w[k:], TagView(pos, ts, i + k)))], len(w) - k)
            if hit is None:
                return len(x)
            j = k + hit[0]
            detection = self._detection(det, lik, j, int(pos[i + j]), float(ts[i + j]))
            out.append(detection)
            if not detection.suppressed:  # re-baseline: learn from the next events
                self.ref, self.lik, self._det, self.span = None, None, None, {}
                return i + j + 1
            k = j + 1
        return len(x)

    def _detection(self, det: Detector, lik: JointLikelihood, j: int, position: int,
                   timestamp: float) -> Detection:
        ref = self.ref
        assert ref is not None
        report = det.report(position, {})
        estimates, ll = lik.explain(j)
        names = [self.features[c] for c in ref.columns]
        reference = {"n": ref.n, "start_position": self.span.get("first_position"),
                     "features": names, "left_out": self.excluded,
                     "marginals": ref.kinds, "prewhitened": ref.var is not None}
        stats: dict[str, Any] = {"reference": reference, "current": report.current,
                                 **report.extra, **_explain(ref, names, estimates, ll),
                                 "rate": float(lik.rates[int(np.argmax(ll))])}
        self.detections += 1
        detection = make_detection(self.signal, None, [det], position, timestamp, report, stats,
                                   {"n": ref.n, **self.span},
                                   self.settings.budget, self._arl)
        apply_cooldown(self._last_alert, detection, self.settings.cooldown_events)
        det.restart()
        return detection

    # -- state ---------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        window = np.vstack(self._window) if self._window else np.zeros((0, len(self.features)))
        return {
            "features": self.features, "marginals": self.marginals, "arl": self._arl,
            "ref": None if self.ref is None else self.ref.to_state(),
            "lik": None if self.lik is None else self.lik.to_state(),
            "detector": None if self._det is None else self._det.to_state(),
            "window": pack(window.ravel()), "last": pack(self._last),
            "last_alert": {k: list(v) for k, v in self._last_alert.items()},
            "span": self.span, "excluded": self.excluded,
            "i": [self.n, self.skipped, self.detections, self._detectable_from],
        }

    @classmethod
    def from_state(cls, settings: MonitorSettings, state: dict[str, Any]) -> JointMonitor:
        mon = cls(settings, [str(f) for f in state["features"]], str(state["marginals"]))
        mon._arl = float(state["arl"])
        if state["ref"] is not None:
            mon.ref = JointReference.from_state(state["ref"])
            mon.lik = JointLikelihood.from_state(mon.ref.d, state["lik"])
            mon._det = detector_class("joint_drift").from_state(state["detector"])
        window = unpack(state["window"]).reshape(-1, len(mon.features))
        mon._window = [window] if len(window) else []
        mon._last = unpack(state["last"])
        mon._last_alert = {str(k): [int(a), int(b)] for k, (a, b) in state["last_alert"].items()}
        mon.span = dict(state["span"])
        mon.excluded = [str(f) for f in state["excluded"]]
        mon.n, mon.skipped, mon.detections, since = state["i"]
        mon._detectable_from = None if since is None else int(since)
        return mon


def _explain(ref: JointReference, names: list[str], estimates: np.ndarray,
             ll: np.ndarray) -> dict[str, Any]:
    """What moved most, from the estimate whose likelihood ratio was the larger at the
    alarming event (``estimates`` are the EWMAs after it, in whitened coordinates)."""
    k = int(np.argmax(ll))
    sigma = estimates[k]
    cov = ref.chol @ sigma @ ref.chol.T
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    change = np.abs(corr - ref.correlation)
    np.fill_diagonal(change, -1.0)
    a, b = np.unravel_index(int(np.argmax(change)), change.shape)
    a, b = int(min(a, b)), int(max(a, b))
    vals, vecs = np.linalg.eigh(sigma)
    top = int(np.argmax(np.abs(np.log(vals))))
    direction = ref.chol @ vecs[:, top]
    direction /= np.linalg.norm(direction)
    direction *= math.copysign(1.0, float(direction[np.argmax(np.abs(direction))]))
    return {"pair": [names[a], names[b]],
            "reference_correlation": round(float(ref.correlation[a, b]), 4),
            "current_correlation": round(float(corr[a, b]), 4),
            "direction": {f: round(float(v), 4) for f, v in zip(names, direction, strict=True)},
            "variance_ratio": round(float(vals[top]), 4)}
