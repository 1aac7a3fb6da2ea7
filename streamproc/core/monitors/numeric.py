"""Monitor of a numeric signal: its mean, its spread and its range.

It learns a reference in stages (:mod:`streamproc.core.reference.stages`: tested against
from its first half-window on), then tests every value:

* each value becomes a normal score against the reference distribution, is whitened by
  the reference's dependence model, and goes into blocks of ``block_size``; the block
  statistics (:class:`~streamproc.core.detectors.Blocks`) feed the block detectors
  (``cusum``, ``adwin``, ``spread`` and configured River ones; while the reference is
  provisional, ``spread`` only);
* ``out_of_range`` flags values outside the reference range widened by 5% on each side
  (in control below 14 / n except with probability ~1e-5, whatever the distribution).

The earliest alarm of any detector wins and every detector consumes exactly the values
up to it (:func:`~.race.race`); values that do not fill a block wait in a carry buffer
(:class:`~.numeric_pipeline.BlockPipeline`), so results do not depend on how the stream
is cut into batches. A feature with few distinct values is tested as categorical. After
a detection the monitor re-baselines (inside a cooldown it keeps the reference,
:func:`~.alarms.apply_cooldown`); a level that keeps moving is recognised
(:mod:`.level_history`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..contracts import Detection
from ..detectors import DEFAULTS, Detector, FitContext, build, detector_class
from ..errors import InvalidState
from ..reference import NumericReference, ReferenceStages, ReferenceWindow
from ..settings import MonitorSettings
from ..stats import MAX_ABS_VALUE, category_name
from .alarms import apply_cooldown, make_detection
from .categorical import CategoricalMonitor
from .contract import ValueMonitor
from .level_history import LevelHistory
from .numeric_pipeline import BlockPipeline
from .race import race

__all__ = ["NumericMonitor"]

# Detectors whose alerts say the level moved (their history reveals a wandering level).
_LEVEL_TESTS = ("cusum", "adwin")
# What a provisional reference tests: what a wandering level leaves alone.
_LEVEL_INVARIANT = ("spread", "out_of_range")


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
        self._stages = ReferenceStages(settings, self._season)
        self._ref: NumericReference | None = None  # in force: provisional until _final
        self._final = False
        self._stage = "learning"
        self._detectable_from: int | None = None
        self._dets: list[Detector] = []  # block detectors, then out_of_range
        self._pipe = BlockPipeline(settings.block_size)
        self._discrete: CategoricalMonitor | None = None
        self._last_alert: dict[str, list[int]] = {}  # key -> [position, severity rank]
        self._levels = LevelHistory(settings.reference_size)
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
        return self._ref is None  # a provisional reference detects too

    @property
    def current_mean(self) -> float | None:
        """Recent mean: ADWIN's adaptive window, or the reference being collected."""
        ref = self._ref
        if ref is None:
            vals = self._stages.window.values
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
            if self._discrete is not None:
                out += self._discrete.update(
                    [category_name(v) for v in x[i:].tolist()], pos[i:], ts[i:],
                    None if off is None else off[i:],
                )
                break
            if not self._final:
                i = self._learn(x, pos, ts, i, off, out)
                continue
            hit = self._monitor(x, pos, ts, i)
            if hit is None:
                break
            end, detection = hit
            out.append(detection)
            i = end + 1
        return out

    # -- the reference's stages (see streamproc.core.reference.stages) ----------------------
    def _learn(self, x: np.ndarray, pos: np.ndarray, ts: np.ndarray, i: int,
               off: np.ndarray | None, out: list[Detection]) -> int:
        """Collect reference values from x[i:] up to the reference's next stage, testing
        them against the provisional reference when there is one (before they are learnt
        from: a change during learning is detected, never learnt as normal). Returns the
        index of the first value not consumed."""
        j, stage = self._stages.add(x, pos, ts, i, off)
        k = i
        while self._ref is not None and k < j:
            hit = self._monitor(x[:j], pos[:j], ts[:j], k)
            if hit is None:
                break
            end, detection = hit
            out.append(detection)
            k = end + 1
            if not detection.suppressed:  # re-baselined: the window collected is dropped
                return k
        window = self._stages.window
        if stage == "discrete":
            self._go_discrete(window)
        elif stage is not None:
            self._install(self._stages.fit(stage), window.tail, stage)
            if stage == "detecting":
                self._stages = ReferenceStages(self.settings, self._season)
                self._final = True
        return j

    @property
    def detectable_from(self) -> int | None:
        if self._discrete is not None:
            return self._discrete.detectable_from
        return self._detectable_from

    @property
    def stage(self) -> str:
        """``learning``, ``provisional``, ``refining`` or ``detecting``: see
        :mod:`streamproc.core.reference.stages`."""
        if self._discrete is not None:
            return self._discrete.stage
        return "learning" if self._ref is None else self._stage

    def _go_discrete(self, window: ReferenceWindow) -> None:
        """Few distinct values: a categorical monitor takes over, with this reference."""
        s = self.settings
        self._ref, self._dets = None, []
        self._pipe.reset()
        self._stages = ReferenceStages(s, self._season)
        self._discrete = CategoricalMonitor(s, self.signal, self.feature)
        self._discrete.calibrate(self._discrete_arl())
        values = np.asarray(window.values)
        zeros = np.zeros(len(values))
        times = np.asarray(window.value_ts) if window.value_ts else zeros
        self._discrete.update([category_name(v) for v in values.tolist()],
                              zeros.astype(np.int64), times)
        self._discrete.set_window(window.window_info())

    def _install(self, ref: NumericReference, tail: list[float], stage: str) -> None:
        """Detect against ``ref`` from now on (``stage``: what it is), with fresh
        detectors fitted to it."""
        s = self.settings
        self._stage = stage
        if self._detectable_from is None:
            self._detectable_from = self._stages.window.last[0] + 1
        self._dets = []
        self._pipe.reset()
        self._ref = ref
        if self._levels.wandering:
            ref.allow_level_wander(self._levels.variance, s.block_size)
        ctx = FitContext(s, self._arl, {**ref.range_reference, **ref.block_reference},
                         sample=ref.reference_means)
        if ref.constant or self._levels.wandering:
            # Nothing to standardise against, or a level that wanders (its slow moves would
            # show in the mean tests, and in the spread test through the sketch's uneven
            # tails): only the range, widened by the wander, is tested.
            self._dets = build([n for n in self._builtin if n == "out_of_range"], ctx)
        elif stage != "detecting":
            # A reference still being learnt cannot tell a slow cycle or a wandering level
            # from drift: only the tests a level change leaves alone run meanwhile (an
            # abrupt change still shows in them, as an innovation that spreads its block).
            self._dets = build([n for n in self._builtin if n in _LEVEL_INVARIANT], ctx)
        else:
            specs = [spec for spec in s.river_detectors
                     if not spec.binary and spec.applies_to(self.signal, self.feature)]
            self._dets = build(self._builtin, ctx, specs)
        self._pipe.hist = ref.history(tail) if not ref.constant else []

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
        learnt = {} if self._final else self._stages.learnt(self.stage)  # say it was
        stats["reference"].update(learnt)
        window = {**ref.window, **learnt}
        detection = make_detection("data_quality" if quality else self.signal, self.feature,
                                   fired, position, float(ts[j]), report, stats, window,
                                   self.settings.budget, self._arl)
        # One episode per monitor: its detectors often see the same change.
        apply_cooldown(self._last_alert, detection, self.settings.cooldown_events, "monitor")
        self.detections += 1
        if detection.suppressed:
            for det in fired:  # same episode: keep the reference, fired tests start afresh
                det.restart()
            return detection
        if primary.name in _LEVEL_TESTS:
            self._levels.add(detection, ref.mean, float(report.current["mean"]))
        # Re-baseline: the next values form a new reference.
        self._ref = None
        self._final = False
        self._dets = []
        self._pipe.reset()
        self._stages = ReferenceStages(self.settings, self._season)
        return detection

    # -- state ---------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "arl": self._arl,
            "window": self._stages.window.to_state(),
            "ref": None if self._ref is None else self._ref.to_state(),
            "final": self._final,
            "stage": [self._stage, self._detectable_from],
            "detectors": [[d.name, d.to_state()] for d in self._dets],
            "pipeline": self._pipe.to_state(),
            "discrete": None if self._discrete is None else self._discrete.to_state(),
            "last_alert": {k: list(v) for k, v in self._last_alert.items()},
            "levels": self._levels.to_state(),
            "i": [self.n, self.detections],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self._arl = float(state["arl"])
        self._stages = ReferenceStages(self.settings, self._season, ReferenceWindow.from_state(
            self.settings.reference_size, state["window"]))
        ref = state["ref"]
        self._ref = None if ref is None else NumericReference.from_state(self.settings, ref)
        self._final = bool(state["final"])
        stage, since = state["stage"]
        self._stage, self._detectable_from = str(stage), None if since is None else int(since)
        self._dets = [detector_class(str(name)).from_state(ds) for name, ds in state["detectors"]]
        self._pipe.load_state(state["pipeline"])
        if self._ref is not None and len(self._pipe.hist) != self._ref.order:
            raise InvalidState("numeric monitor state: whitening history of the wrong length")
        self._discrete = None
        if state["discrete"] is not None:
            self._discrete = CategoricalMonitor(self.settings, self.signal, self.feature)
            self._discrete.load_state(state["discrete"])
        self._last_alert = {str(k): [int(p), int(r)] for k, (p, r) in state["last_alert"].items()}
        self._levels.load_state(state["levels"])
        self.n, self.detections = (int(v) for v in state["i"])
