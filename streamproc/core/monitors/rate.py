"""Monitor of a 0/1 stream: error rate, null rate, type changes.

It learns a reference rate, then runs its rate detector (a registered Bernoulli
CUSUM named after what the flag means, see :mod:`streamproc.core.detectors.rate_cusum`) and, for a
classifier's errors, any configured River binary detector (``drift.binary.DDM``,
...), all on the same flags; the earliest alarm wins.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..calibration import wilson_upper
from ..contracts import Detection
from ..detectors import REGISTRY, Detector, FitContext, Flags, TagView, build, detector_class
from ..errors import InvalidSetting
from ..settings import MonitorSettings
from .alarms import apply_cooldown, make_detection
from .contract import ValueMonitor
from .race import race
from .rate_reference import RateCounts

__all__ = ["RateMonitor"]

# A rare or dependent rate is learnt over at most this many reference windows.
_RATE_MAX_FACTOR = 10
# Pseudo-events of the whole reference's rate in each phase bin's (declared season).
_SEASON_PRIOR = 10.0


class RateMonitor(ValueMonitor):
    """Learn a reference rate, then alarm when the rate rises.

    Parameters
    ----------
    settings
        Reference size, budget and cooldown.
    signal, feature, detector
        Names reported with a detection; ``detector`` is a registered rate detector.

    The design (rate, alternative, threshold) comes from
    :func:`~streamproc.core.calibration.bernoulli_design`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> mon = RateMonitor(MonitorSettings(reference_size=1000), "performance", None, "error_rate")
    >>> mon.calibrate(1e6)
    >>> x = np.concatenate([rng.random(20_000) < 0.1, rng.random(5_000) < 0.3])
    >>> pos = np.arange(len(x)); ts = pos * 0.01
    >>> [(d.detector, d.position, d.onset_position, d.severity) for d in mon.update(x, pos, ts)]
    [('error_rate', 20175, 20018, 'high')]
    """

    def __init__(
        self,
        settings: MonitorSettings,
        signal: str,
        feature: str | None,
        detector: str,
    ) -> None:
        if detector not in REGISTRY or REGISTRY[detector].input != "flags":
            raise InvalidSetting(f"{detector!r} is not a registered rate detector")
        self.settings = settings
        self.signal = signal
        self.feature = feature
        self.detector = detector
        self._arl = float(settings.budget.events)
        self._p_ref: float | None = None
        self._final = False  # the reference is complete (else it is refined meanwhile)
        self._detectable_from: int | None = None
        self._design: tuple[int, dict[str, Any]] = (0, {})  # what the design was made from
        self._vif = 1.0
        self._season = settings.season_for(signal, feature)
        self._counts = RateCounts(self._season)
        self._dets: list[Detector] = []
        self._last_alert: dict[str, list[int]] = {}  # detector -> [position, severity rank]
        self.n = 0
        self.ones = 0
        self.detections = 0

    # -- configuration -----------------------------------------------------------------
    def _river_specs(self) -> list[Any]:
        if self.detector != "error_rate":
            return []
        return [spec for spec in self.settings.river_detectors
                if spec.binary and spec.applies_to(self.signal, self.feature)]

    @property
    def detector_names(self) -> list[str]:
        return [self.detector, *(spec.name for spec in self._river_specs())]

    @property
    def n_detectors(self) -> int:
        return len(self.detector_names)

    def calibrate(self, arl_events: float) -> None:
        """Set the events between false alarms each detector may use."""
        self._arl = float(arl_events)
        for det in self._dets:
            det.calibrate(self._arl)

    def scores(self) -> dict[str, float]:
        return {d.name: s for d in self._dets if (s := d.score) is not None}

    @property
    def dependence(self) -> float | None:
        """The reference's variance inflation factor (1: independent), once learnt."""
        return None if self._p_ref is None else self._vif

    @property
    def learning(self) -> bool:
        """True while the monitor collects its first reference window: no detection yet."""
        return self._p_ref is None

    @property
    def stage(self) -> str:
        """``learning``, ``refining`` (detecting against the first windows' rate while a
        rare or dependent rate is learnt longer) or ``detecting``."""
        if self._p_ref is None:
            return "learning"
        return "detecting" if self._final else "refining"

    @property
    def vif(self) -> float:
        """Variance inflation of the reference's flag counts so far (1: independent)."""
        return self._counts.vif

    @property
    def _max_reference(self) -> int:
        return _RATE_MAX_FACTOR * self.settings.reference_size

    @property
    def reference_rate(self) -> float | None:
        return self._p_ref

    @property
    def current_rate(self) -> float:
        return self.ones / self.n if self.n else 0.0

    @property
    def current_mean(self) -> float:
        """The rate since the monitor started (what metrics show as its mean)."""
        return self.current_rate

    @property
    def reference_mean(self) -> float | None:
        return self._p_ref

    @property
    def observations(self) -> int:
        return self.n

    # -- update --------------------------------------------------------------------------
    def update(self, x: np.ndarray, pos: np.ndarray, ts: np.ndarray,
               off: np.ndarray | None = None) -> list[Detection]:
        """Feed 0/1 items with their event positions and times (and source offsets, for
        the provenance of references); return detections."""
        out: list[Detection] = []
        total = len(x)
        self.n += total
        ones = int(np.count_nonzero(x))
        self.ones += ones
        i = 0
        n_ref = self.settings.reference_size
        while i < total:
            if self._final:
                if not self._dets:  # in-control rate too high to test for a rise
                    break
                resume = self._test(x, pos, ts, i, total, out)
                if resume is None:
                    break
                i = resume
                continue
            # Collecting the reference. Checked only at multiples of reference_size, so
            # its stages do not depend on batch boundaries.
            if self._counts.n == 0:
                self._counts.start = int(pos[i])
            checkpoint = (self._counts.n // n_ref + 1) * n_ref
            take = min(checkpoint - self._counts.n, total - i)
            if self._dets:  # refining: test against the provisional design first
                resume = self._test(x, pos, ts, i, i + take, out)
                if resume is not None:  # re-baselined: the counts collected are dropped
                    i = resume
                    continue
            self._counts.collect(x, pos, ts, off, i, take, ones)
            i += take
            if self._counts.n == checkpoint:
                if self._counts.enough(self._max_reference):
                    self._finish_reference(final=True)
                elif self._p_ref is None:  # detect from the first window on
                    self._finish_reference(final=False)
        return out

    def _test(self, x: np.ndarray, pos: np.ndarray, ts: np.ndarray, i: int, end: int,
              out: list[Detection]) -> int | None:
        """Test x[i:end]; the index to resume from after a detection that re-baselined,
        or None once the segment is consumed."""
        while i < end:
            bins = None if self._season is None else self._season.bin_of(ts[i:end])
            seg = x[i:end]
            if self._quiet(seg, bins):
                return None
            hit = race([(self._dets, Flags(seg, TagView(pos, ts, i), bins))], end - i)
            if hit is None:
                return None
            j = i + hit[0]
            detection = self._detection(hit[1], int(pos[j]), float(ts[j]))
            out.append(detection)
            if not detection.suppressed:
                return j + 1
            i = j + 1
        return None

    def _quiet(self, x: np.ndarray, bins: np.ndarray | None) -> bool:
        """No flag set and only rate CUSUMs: consume the zeros at once (the usual case
        of a feature that is never null)."""
        if x.any() or any(d.sequential for d in self._dets):
            return False
        for det in self._dets:
            det.skip_zeros(len(x), bins)  # type: ignore[attr-defined]
        return True

    def _finish_reference(self, final: bool) -> None:
        """Design the detectors from the reference counted so far: the complete one
        (``final``), or a provisional one to detect against while it is refined."""
        self._final = final
        self._design = (self._counts.n, dict(self._counts.window))
        if self._detectable_from is None:
            self._detectable_from = int(self._counts.window["last_position"]) + 1
        self._p_ref = self._counts.ones / self._counts.n
        # River binary detectors replay the reference's errors; a reference without
        # both outcomes replays its upper-bound design rate instead.
        p = (self._p_ref if 0 < self._counts.ones < self._counts.n
             else wilson_upper(self._counts.ones, self._counts.n))
        sample = _bernoulli_sample(p)
        # Bursts: the reference rate is as uncertain as from n / VIF independent flags,
        # and the CUSUM's walk varies VIF times as much (its threshold scales with it).
        vif = 1.0 if self._season is not None else self._counts.vif
        self._vif = vif
        reference: dict[str, Any] = {"ones": round(self._counts.ones / vif),
                                     "n": round(self._counts.n / vif), "factor": vif}
        if self._season is not None:
            # Each phase bin's rate, shrunk towards the whole reference's by
            # _SEASON_PRIOR pseudo-events (a quiet bin is not all noise).
            c = self._counts
            n, ones = np.asarray(c.bin_n, float), np.asarray(c.bin_ones, float)
            rates = (ones + _SEASON_PRIOR * self._p_ref) / (n + _SEASON_PRIOR)
            floor = wilson_upper(0, max(self._counts.n, 1))
            reference["bin_rates"] = np.clip(rates, floor, 1.0).tolist()
        ctx = FitContext(self.settings, self._arl, reference, sample=sample)
        dets = build([self.detector], ctx)
        self._dets = dets + build([], ctx, self._river_specs()) if dets else []

    def _detection(self, fired: list[Detector], position: int, timestamp: float) -> Detection:
        assert self._p_ref is not None
        primary = fired[0]
        n, window = self._design
        reference: dict[str, Any] = {"rate": self._p_ref, "n": n,
                                     "start_position": self._counts.start,
                                     "dependence": {"vif": self._vif}}
        if not self._final:  # the reference was still being refined: say so
            reference.update(stage="refining", target=self._max_reference)
        report = primary.report(position, reference)
        self.detections += 1
        stats: dict[str, Any] = {
            "reference": {**reference, "design_rate": report.extra.get("design_rate")},
            "current": report.current,
            **{k: v for k, v in report.extra.items() if k != "design_rate"},
        }
        detection = make_detection(self.signal, self.feature, fired, position, timestamp,
                                   report, stats, {"n": n, **window,
                                                   **({} if self._final else {
                                                       "stage": "refining",
                                                       "target": self._max_reference})},
                                   self.settings.budget, self._arl)
        apply_cooldown(self._last_alert, detection, self.settings.cooldown_events)
        if detection.suppressed:  # same episode: keep the reference, restart the tests
            for det in fired:
                det.restart()
            return detection
        # Re-baseline: learn the new rate from the next reference window.
        self._dets = []
        self._p_ref = None
        self._final = False
        self._counts = RateCounts(self._season)
        return detection

    # -- state ---------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "arl": self._arl,
            "reference": self._counts.to_state(),
            "vif": self._vif,
            "p_ref": self._p_ref,
            "final": [self._final, self._design[0], dict(self._design[1]),
                      self._detectable_from],
            "detectors": [[d.name, d.to_state()] for d in self._dets],
            "last_alert": {k: list(v) for k, v in self._last_alert.items()},
            "i": [self.n, self.ones, self.detections],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self._arl = float(state["arl"])
        self._counts = RateCounts.from_state(self._season, state["reference"])
        self._vif = float(state["vif"])
        p_ref = state["p_ref"]
        self._p_ref = None if p_ref is None else float(p_ref)
        final, design_n, design_window, since = state["final"]
        self._detectable_from = None if since is None else int(since)
        self._final, self._design = bool(final), (int(design_n), dict(design_window))
        self._dets = [detector_class(str(name)).from_state(ds) for name, ds in state["detectors"]]
        self._last_alert = {str(k): [int(p), int(r)] for k, (p, r) in state["last_alert"].items()}
        self.n, self.ones, self.detections = (int(v) for v in state["i"])


# Bootstrap source for calibrating River binary detectors: resampling the reference's
# 0/1 errors with replacement is drawing Bernoulli(p) with p the reference rate.
_SAMPLE = 1000


def _bernoulli_sample(p: float) -> np.ndarray:
    ones = int(round(p * _SAMPLE))
    return np.concatenate([np.ones(ones), np.zeros(_SAMPLE - ones)])
