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
from ..stats import count_dispersion, markov_vif
from .alarms import apply_cooldown, make_detection
from .contract import ValueMonitor
from .race import race

__all__ = ["RateMonitor"]

# A reference rate is learnt from at least this many of the rarer outcome (e.g. 200
# errors), which puts its relative error near 7%, within this many reference windows.
_RATE_MIN_COUNT = 200
_RATE_MAX_FACTOR = 10
# Flags per block when measuring how much the reference's counts vary.
_DISPERSION_BLOCK = 100
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
        self._ref_n = 0
        self._ref_ones = 0
        self._ref_start = 0
        self._ref_pairs = 0  # consecutive (1, 1) flags in the reference: its burstiness
        self._ref_blocks: list[int] = []  # ones per block of _DISPERSION_BLOCK flags
        self._last_flag = False  # the flag before the current batch (pairs across batches)
        self._p_ref: float | None = None
        self._vif = 1.0
        self._season = settings.season_for(signal, feature)
        self._window: dict[str, Any] = {}  # first/last event of the reference (provenance)
        bins = 0 if self._season is None else self._season.bins
        self._bin_n = [0] * bins  # a declared season's reference counts per phase bin
        self._bin_ones = [0] * bins
        self._ref_span = [0.0, 0.0]
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
        """True while the monitor collects its reference (warm-up): no detection yet."""
        return self._p_ref is None

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
            if not self._dets:
                if self._p_ref is not None:  # in-control rate too high to test for a rise
                    break
                # Checked only at multiples of reference_size, so the end of the
                # reference does not depend on batch boundaries.
                if self._ref_n == 0:
                    self._ref_start = int(pos[i])
                checkpoint = (self._ref_n // n_ref + 1) * n_ref
                take = min(checkpoint - self._ref_n, total - i)
                chunk = x[i : i + take]
                # No flag set (the usual case: a feature that is never null): no count,
                # no pairs, empty blocks.
                chunk_ones = int(np.count_nonzero(chunk)) if ones else 0
                self._ref_ones += chunk_ones
                if self._ref_n == 0:
                    self._last_flag = False
                    self._window = {"first_position": int(pos[i]),
                                    "first_event_time": float(ts[i]),
                                    "first_offset": -1 if off is None else int(off[i])}
                if take:
                    self._window.update(
                        last_position=int(pos[i + take - 1]),
                        last_event_time=float(ts[i + take - 1]),
                        last_offset=-1 if off is None else int(off[i + take - 1]))
                if chunk_ones:
                    self._ref_pairs += int(np.count_nonzero(chunk[1:] & chunk[:-1])) + int(
                        bool(self._last_flag and chunk[0]))
                if take:
                    self._last_flag = bool(chunk[-1])
                    self._count_blocks(chunk, chunk_ones)
                    if self._season is not None:
                        self._count_bins(chunk, ts[i : i + take])
                self._ref_n += take
                i += take
                if self._ref_n == checkpoint and self._reference_is_enough():
                    self._finish_reference()
                continue
            bins = None if self._season is None else self._season.bin_of(ts[i:])
            if self._quiet(x[i:], bins):
                break
            hit = race([(self._dets, Flags(x[i:], TagView(pos, ts, i), bins))], total - i)
            if hit is None:
                break
            j = i + hit[0]
            out.append(self._detection(hit[1], int(pos[j]), float(ts[j])))
            i = j + 1
        return out

    def _count_bins(self, chunk: np.ndarray, ts: np.ndarray) -> None:
        assert self._season is not None
        if self._ref_n == 0:
            self._ref_span = [float(ts[0]), float(ts[0])]
        self._ref_span[1] = max(self._ref_span[1], float(ts.max()))
        bins = self._season.bin_of(ts)
        n, ones = np.asarray(self._bin_n), np.asarray(self._bin_ones)
        np.add.at(n, bins, 1)
        np.add.at(ones, bins, chunk.astype(np.int64))
        self._bin_n, self._bin_ones = n.tolist(), ones.tolist()

    def _count_blocks(self, chunk: np.ndarray, chunk_ones: int) -> None:
        first = self._ref_n // _DISPERSION_BLOCK
        if not chunk_ones:
            last = (self._ref_n + len(chunk) - 1) // _DISPERSION_BLOCK
            ones = [0] * (last - first + 1)
        else:
            ids = (np.arange(self._ref_n, self._ref_n + len(chunk)) // _DISPERSION_BLOCK) - first
            ones = np.bincount(ids, weights=chunk.astype(np.float64)).astype(np.int64).tolist()
        if self._ref_n % _DISPERSION_BLOCK and self._ref_blocks:
            self._ref_blocks[-1] += ones[0]
            ones = ones[1:]
        self._ref_blocks.extend(ones)

    @property
    def vif(self) -> float:
        """Variance inflation of the reference's flag counts (1: independent): bursts
        (a two-state Markov model) or a slowly cycling rate (block-count dispersion)."""
        full = self._ref_blocks[: self._ref_n // _DISPERSION_BLOCK]
        return max(markov_vif(self._ref_n, self._ref_ones, self._ref_n - 1, self._ref_pairs),
                   count_dispersion(np.asarray(full), _DISPERSION_BLOCK))

    def _quiet(self, x: np.ndarray, bins: np.ndarray | None) -> bool:
        """No flag set and only rate CUSUMs: consume the zeros at once (the usual case
        of a feature that is never null)."""
        if x.any() or any(d.sequential for d in self._dets):
            return False
        for det in self._dets:
            det.skip_zeros(len(x), bins)  # type: ignore[attr-defined]
        return True

    def _reference_is_enough(self) -> bool:
        """A rate seen a few times is estimated too roughly to test for its doubling:
        keep learning until both outcomes were seen _RATE_MIN_COUNT times (or never
        the rarer one), up to _RATE_MAX_FACTOR reference windows. A dependent stream
        (bursts, a cycling rate) learns over all of them: a slow cycle needs the span."""
        if self._season is not None:  # a declared season: a whole one, every bin filled
            return self._season.covered(self._ref_span[0], self._ref_span[1], self._bin_n)
        rare = min(self._ref_ones, self._ref_n - self._ref_ones)
        longest = _RATE_MAX_FACTOR * self.settings.reference_size
        if self._ref_n >= longest:
            return True
        if rare == 0:
            return True
        return rare >= _RATE_MIN_COUNT and self.vif == 1.0

    def _finish_reference(self) -> None:
        self._p_ref = self._ref_ones / self._ref_n
        # River binary detectors replay the reference's errors; a reference without
        # both outcomes replays its upper-bound design rate instead.
        p = (self._p_ref if 0 < self._ref_ones < self._ref_n
             else wilson_upper(self._ref_ones, self._ref_n))
        sample = _bernoulli_sample(p)
        # Bursts: the reference rate is as uncertain as from n / VIF independent flags,
        # and the CUSUM's walk varies VIF times as much (its threshold scales with it).
        vif = 1.0 if self._season is not None else self.vif
        self._vif = vif
        reference: dict[str, Any] = {"ones": round(self._ref_ones / vif),
                                     "n": round(self._ref_n / vif), "factor": vif}
        if self._season is not None:
            # Each phase bin's rate, shrunk towards the whole reference's by
            # _SEASON_PRIOR pseudo-events (a quiet bin is not all noise).
            n, ones = np.asarray(self._bin_n, float), np.asarray(self._bin_ones, float)
            rates = (ones + _SEASON_PRIOR * self._p_ref) / (n + _SEASON_PRIOR)
            floor = wilson_upper(0, max(self._ref_n, 1))
            reference["bin_rates"] = np.clip(rates, floor, 1.0).tolist()
        ctx = FitContext(self.settings, self._arl, reference, sample=sample)
        dets = build([self.detector], ctx)
        if not dets:  # in-control rate too high to test for a rise
            return
        self._dets = dets + build([], ctx, self._river_specs())

    def _detection(self, fired: list[Detector], position: int, timestamp: float) -> Detection:
        assert self._p_ref is not None
        primary = fired[0]
        reference = {"rate": self._p_ref, "n": self._ref_n,
                     "start_position": self._ref_start, "dependence": {"vif": self._vif}}
        report = primary.report(position, reference)
        self.detections += 1
        stats: dict[str, Any] = {
            "reference": {**reference, "design_rate": report.extra.get("design_rate")},
            "current": report.current,
            **{k: v for k, v in report.extra.items() if k != "design_rate"},
        }
        detection = make_detection(self.signal, self.feature, fired, position, timestamp,
                                   report, stats, {"n": self._ref_n, **self._window},
                                   self.settings.budget, self._arl)
        apply_cooldown(self._last_alert, detection, self.settings.cooldown_events)
        if detection.suppressed:  # same episode: keep the reference, restart the tests
            for det in fired:
                det.restart()
            return detection
        # Re-baseline: learn the new rate from the next reference window.
        self._dets = []
        self._p_ref = None
        self._ref_n = self._ref_ones = self._ref_pairs = 0
        self._ref_blocks = []
        self._bin_n = [0] * len(self._bin_n)
        self._bin_ones = [0] * len(self._bin_ones)
        return detection

    # -- state ---------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "arl": self._arl,
            "ref": [self._ref_n, self._ref_ones, self._ref_start, self._ref_pairs,
                    int(self._last_flag)],
            "ref_blocks": list(self._ref_blocks),
            "season": [self._bin_n, self._bin_ones, self._ref_span],
            "vif": self._vif,
            "window": dict(self._window),
            "p_ref": self._p_ref,
            "detectors": [[d.name, d.to_state()] for d in self._dets],
            "last_alert": {k: list(v) for k, v in self._last_alert.items()},
            "i": [self.n, self.ones, self.detections],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self._arl = float(state["arl"])
        ref_n, ones, start, pairs, last = (int(v) for v in state["ref"])
        self._ref_n, self._ref_ones, self._ref_start, self._ref_pairs = ref_n, ones, start, pairs
        self._last_flag = bool(last)
        self._ref_blocks = [int(v) for v in state["ref_blocks"]]
        bin_n, bin_ones, span = state["season"]
        self._bin_n, self._bin_ones = [int(v) for v in bin_n], [int(v) for v in bin_ones]
        self._ref_span = [float(v) for v in span]
        self._vif = float(state["vif"])
        self._window = dict(state["window"])
        p_ref = state["p_ref"]
        self._p_ref = None if p_ref is None else float(p_ref)
        self._dets = [detector_class(str(name)).from_state(ds) for name, ds in state["detectors"]]
        self._last_alert = {str(k): [int(p), int(r)] for k, (p, r) in state["last_alert"].items()}
        self.n, self.ones, self.detections = (int(v) for v in state["i"])


# Bootstrap source for calibrating River binary detectors: resampling the reference's
# 0/1 errors with replacement is drawing Bernoulli(p) with p the reference rate.
_SAMPLE = 1000


def _bernoulli_sample(p: float) -> np.ndarray:
    ones = int(round(p * _SAMPLE))
    return np.concatenate([np.ones(ones), np.zeros(_SAMPLE - ones)])
