"""Monitor of a numeric signal: its mean, its spread and its range.

Lifecycle: collect a reference window (``reference_size`` values), learn from it
(:class:`~streamproc.core.reference.NumericReference`: normal-score sketch,
dependence model, raw mean, sd and range), calibrate the detectors for the
budget, then test every value:

* each value becomes a normal score against the reference distribution, is
  whitened by the reference's dependence model, and goes into blocks of
  ``block_size``; the block statistics (:class:`~streamproc.core.detectors.Blocks`) feed the
  block detectors (``cusum``, ``adwin``, ``spread`` and configured River ones);
* ``out_of_range`` flags values outside the reference range widened by 5% on each
  side (in control below 14 / n except with probability ~1e-5, whatever the
  distribution).

The earliest alarm of any detector wins and every detector consumes exactly the
values up to it (:func:`~.race.race`); values that do not fill a block
wait in a carry buffer (:class:`~.numeric_pipeline.BlockPipeline`), so results do not
depend on how the stream is cut into batches. A feature with few distinct values is
tested as categorical instead.
After a detection the monitor re-baselines: the next ``reference_size`` values
form a new reference (inside a cooldown it keeps the reference, see
:func:`~.alarms.apply_cooldown`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..contracts import Detection
from ..detectors import DEFAULTS, Detector, FitContext, build, detector_class
from ..errors import InvalidState
from ..reference import NumericReference, ReferenceWindow
from ..settings import MonitorSettings
from ..stats import MAX_ABS_VALUE, category_name
from .alarms import apply_cooldown, make_detection
from .categorical import CategoricalMonitor
from .contract import ValueMonitor
from .numeric_pipeline import BlockPipeline
from .race import race

__all__ = ["NumericMonitor"]

# A feature with at most this many distinct values in its reference (flags, small
# counts, ratings) is tested as categorical: block means and spreads of a few discrete
# values are too far from normal for the block tests' calibration.
_DISCRETE_MAX = 10


class NumericMonitor(ValueMonitor):
    """Watch a numeric signal for shifts of mean, spread and range.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> mon = NumericMonitor(MonitorSettings(reference_size=1000), "feature", "age")
    >>> mon.calibrate(1e6)
    >>> x = np.concatenate([rng.normal(40, 8, 20_000), rng.normal(44, 8, 5_000)])
    >>> pos = np.arange(len(x)); ts = 1.7e9 + pos * 0.01
    >>> for d in mon.update(x, pos, ts):
    ...     print(d.detector, d.position, d.onset_position, d.direction, d.severity)
    cusum 20055 19997 up high
    """

    kind = "numeric"

    def __init__(self, settings: MonitorSettings, signal: str, feature: str | None) -> None:
        self.settings = settings
        self.signal = signal
        self.feature = feature
        self._arl = float(settings.budget.events)
        self._season = settings.season_for(signal, feature)
        self._window = ReferenceWindow(settings.reference_size, self._season)
        self._ref: NumericReference | None = None
        self._dets: list[Detector] = []  # block detectors, then out_of_range
        self._pipe = BlockPipeline(settings.block_size)
        self._discrete: CategoricalMonitor | None = None
        self._last_alert: dict[str, list[int]] = {}  # key -> [position, severity rank]
        self.n = 0
        self.detections = 0

    # -- configuration -----------------------------------------------------------------
    @property
    def _builtin(self) -> tuple[str, ...]:
        chosen = self.settings.numeric_detectors
        return DEFAULTS["numeric"] if chosen is None else chosen

    @property
    def _numeric_names(self) -> list[str]:
        names = list(self._builtin)
        names += [spec.name for spec in self.settings.river_detectors
                  if not spec.binary and spec.applies_to(self.signal, self.feature)]
        return names

    @property
    def detector_names(self) -> list[str]:
        """Names of the detectors this monitor runs now."""
        if self._discrete is not None:
            return self._discrete.detector_names
        return self._numeric_names

    @property
    def n_detectors(self) -> int:
        """The monitor's share of the budget, in detectors: its numeric detectors.

        Fixed when the signal is discovered, so that no other monitor's thresholds
        change later; a signal that turns out discrete spreads the same share over
        its categorical detectors.
        """
        return len(self._numeric_names)

    def calibrate(self, arl_events: float) -> None:
        """Give each of this monitor's detectors ``arl_events`` between false alarms."""
        self._arl = float(arl_events)
        if self._discrete is not None:
            self._discrete.calibrate(self._discrete_arl())
        for det in self._dets:
            det.calibrate(self._arl)

    def _discrete_arl(self) -> float:
        assert self._discrete is not None
        return self._arl * self._discrete.n_detectors / self.n_detectors

    # -- read-only views ---------------------------------------------------------------------
    @property
    def reference(self) -> dict[str, float] | None:
        """Reference statistics (mean, sd, min, max, n, window), once learnt."""
        return None if self._ref is None else dict(self._ref.summary)

    @property
    def reference_mean(self) -> float | None:
        return None if self._ref is None else self._ref.mean

    @property
    def reference_sd(self) -> float | None:
        return None if self._ref is None else self._ref.sd

    @property
    def observations(self) -> int:
        return self.n

    @property
    def learning(self) -> bool:
        """True while the monitor collects its reference (warm-up): no detection yet."""
        if self._discrete is not None:
            return self._discrete.learning
        return self._ref is None

    @property
    def current_mean(self) -> float | None:
        """Recent mean: ADWIN's adaptive window, or the reference being collected."""
        ref = self._ref
        if ref is None:
            vals = self._window.values
            return math.fsum(vals) / len(vals) if vals else None
        for det in self._dets:
            recent = det.recent_mean
            if recent is not None:
                return ref.mean + ref.sd * recent
        return ref.mean

    @property
    def dependence(self) -> float | None:
        """The reference's variance inflation factor (1: independent), once learnt."""
        if self._discrete is not None:
            return self._discrete.dependence
        return None if self._ref is None else self._ref.vif

    def scores(self) -> dict[str, float]:
        """Detector name -> statistic / threshold (1.0 alarms), where a detector says."""
        if self._discrete is not None:
            return self._discrete.scores()
        return {d.name: s for d in self._dets if (s := d.score) is not None}

    # -- update --------------------------------------------------------------------------
    def update(self, x: np.ndarray, pos: np.ndarray, ts: np.ndarray,
               off: np.ndarray | None = None) -> list[Detection]:
        """Feed finite values with their event positions and times (and source offsets,
        for the provenance of references); return detections.

        Values beyond +-MAX_ABS_VALUE are skipped (callers count them as unusable).
        """
        usable = np.abs(x) <= MAX_ABS_VALUE
        if not usable.all():
            x, pos, ts = x[usable], pos[usable], ts[usable]
            off = None if off is None else off[usable]
        out: list[Detection] = []
        n = len(x)
        self.n += n
        i = 0
        while i < n:
            if self._ref is None and self._discrete is None:
                window = self._window
                full = window.window_full
                i = window.add(x, pos, ts, i, off)
                if window.window_full and not full:
                    self._first_window()
                if window.complete:
                    self._finish_reference()
                continue
            if self._discrete is not None:
                out += self._discrete.update(
                    [category_name(v) for v in x[i:].tolist()], pos[i:], ts[i:],
                    None if off is None else off[i:],
                )
                break
            hit = self._monitor(x, pos, ts, i)
            if hit is None:
                break
            end, detection = hit
            out.append(detection)
            i = end + 1
        return out

    def _first_window(self) -> None:
        """The first window is full: go categorical, or decide how long to learn."""
        window = self._window
        values = np.asarray(window.values)
        if len(np.unique(values)) <= _DISCRETE_MAX:
            s = self.settings
            self._window = ReferenceWindow(s.reference_size, self._season)
            self._discrete = CategoricalMonitor(s, self.signal, self.feature)
            self._discrete.calibrate(self._discrete_arl())
            zeros = np.zeros(len(values))
            times = np.asarray(window.value_ts) if window.value_ts else zeros
            self._discrete.update([category_name(v) for v in values.tolist()],
                                  zeros.astype(np.int64), times)
            self._discrete.set_window(window.window_info())
            return
        constant = float(values.max()) == float(values.min())
        window.extend(1.0 if constant else NumericReference.dependence(values).extension)

    def _finish_reference(self) -> None:
        s = self.settings
        window = self._window
        self._window = ReferenceWindow(s.reference_size, self._season)
        self._dets = []
        self._pipe.reset()
        ref = NumericReference.fit(s, window)
        self._ref = ref
        ctx = FitContext(s, self._arl, {**ref.range_reference, **ref.block_reference},
                         sample=ref.reference_means)
        if ref.constant:  # nothing to standardise against: only the range is tested
            self._dets = build([n for n in self._builtin if n == "out_of_range"], ctx)
        else:
            specs = [spec for spec in s.river_detectors
                     if not spec.binary and spec.applies_to(self.signal, self.feature)]
            self._dets = build(self._builtin, ctx, specs)
        self._pipe.hist = ref.history(window.tail) if not ref.constant else []

    def _monitor(
        self, x: np.ndarray, pos: np.ndarray, ts: np.ndarray, i: int
    ) -> tuple[int, Detection] | None:
        """Test x[i:]; on the first detection return (index in x, detection)."""
        ref = self._ref
        assert ref is not None
        flags, blocks, d, u_all, r_all = self._pipe.inputs(ref, x, pos, ts, i)
        n = flags.n
        groups: list[tuple[list[Detector], Any]] = [
            ([det for det in self._dets if det.input == "flags"], flags)]
        if blocks is not None:
            groups.insert(0, ([det for det in self._dets if det.input == "blocks"], blocks))
        hit = race(groups, n)
        last = n - 1 if hit is None else hit[0]
        if not ref.constant:
            self._pipe.consume(ref, last, d, u_all, r_all, blocks)
        if hit is None:
            return None
        j = i + hit[0]
        return j, self._detection(j, hit[1], pos, ts, x[i : j + 1])

    # -- detections ------------------------------------------------------------------------
    def _detection(
        self, j: int, fired: list[Detector], pos: np.ndarray, ts: np.ndarray, seen: np.ndarray
    ) -> Detection:
        ref = self._ref
        assert ref is not None
        primary = fired[0]
        position = int(pos[j])
        report = primary.report(position, ref.summary)
        stats: dict[str, Any] = {"reference": ref.report_stats(), "current": report.current,
                                 **report.extra}
        if primary.name == "out_of_range":
            recent = seen[-min(len(seen), 1000):]
            stats["reference"]["outside_rate"] = report.extra["design_rate"]
            stats["current"].update(min=float(recent.min()), max=float(recent.max()))
            stats.pop("design_rate")
        # Out-of-range inputs are a data-quality problem; out-of-range predictions or
        # errors belong to their own signal.
        quality = primary.name == "out_of_range" and self.signal == "feature"
        detection = make_detection("data_quality" if quality else self.signal, self.feature,
                                   fired, position, float(ts[j]), report, stats, ref.window,
                                   self.settings.budget, self._arl)
        # One episode per monitor: its detectors often see the same change.
        apply_cooldown(self._last_alert, detection, self.settings.cooldown_events, "monitor")
        self.detections += 1
        if detection.suppressed:
            for det in fired:  # same episode: keep the reference, fired tests start afresh
                det.restart()
            return detection
        # Re-baseline: the next values form a new reference.
        self._ref = None
        self._dets = []
        self._pipe.reset()
        return detection

    # -- state ---------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "arl": self._arl,
            "window": self._window.to_state(),
            "ref": None if self._ref is None else self._ref.to_state(),
            "detectors": [[d.name, d.to_state()] for d in self._dets],
            "pipeline": self._pipe.to_state(),
            "discrete": None if self._discrete is None else self._discrete.to_state(),
            "last_alert": {k: list(v) for k, v in self._last_alert.items()},
            "i": [self.n, self.detections],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self._arl = float(state["arl"])
        self._window = ReferenceWindow.from_state(self.settings.reference_size, state["window"])
        ref = state["ref"]
        self._ref = None if ref is None else NumericReference.from_state(self.settings, ref)
        self._dets = [detector_class(str(name)).from_state(ds) for name, ds in state["detectors"]]
        self._pipe.load_state(state["pipeline"])
        if self._ref is not None and len(self._pipe.hist) != self._ref.order:
            raise InvalidState("numeric monitor state: whitening history of the wrong length")
        self._discrete = None
        if state["discrete"] is not None:
            self._discrete = CategoricalMonitor(self.settings, self.signal, self.feature)
            self._discrete.load_state(state["discrete"])
        self._last_alert = {str(k): [int(p), int(r)] for k, (p, r) in state["last_alert"].items()}
        self.n, self.detections = (int(v) for v in state["i"])
