"""Monitor of a numeric signal: its mean, its spread and its range.

Lifecycle: collect a reference window (``reference_size`` values), derive the
reference mean, standard deviation and range, calibrate the tests for the budget,
then run them:

* the block tests of :mod:`streamproc.core.block_tests` (``page_hinkley``,
  ``adwin``, ``spread``);
* ``out_of_range``: Bernoulli CUSUM on the rate of values outside the reference
  range [min, max] (widened by 5% on each side); in control that rate is below
  14 / n except with probability ~1e-5 (order statistics), whatever the
  distribution.

A feature with few distinct values is tested as categorical instead. After a
detection the monitor re-baselines: the next ``reference_size`` values form a new
reference (inside a cooldown it keeps the reference, see
:func:`~streamproc.core.detection.apply_cooldown`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .bernoulli import BernoulliCusum, alternative_rate
from .block_tests import BlockTests
from .blocks import MAX_ABS_VALUE
from .calibration import bernoulli_threshold, range_rate_bound
from .categorical import CategoricalMonitor, category_name
from .detection import Detection, apply_cooldown, severity_from_rate
from .rates import TagView
from .settings import MonitorSettings

__all__ = ["NumericMonitor"]

# The tested range is the reference [min, max] widened by this share of its width on
# each side: light-tailed features then almost never leave it in control, while a unit
# change or a flood of outliers still does at once.
_RANGE_MARGIN = 0.05
# A feature with at most this many distinct values in its reference (flags, small
# counts, ratings) is tested as categorical: block means and spreads of a few discrete
# values are too far from normal for the block tests' calibration.
_DISCRETE_MAX = 10


class NumericMonitor:
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
    page_hinkley 20055 19992 up high
    """

    n_detectors = 4
    kind = "numeric"

    def __init__(self, settings: MonitorSettings, signal: str, feature: str | None) -> None:
        self.settings = settings
        self.signal = signal
        self.feature = feature
        self._arl = float(settings.budget.events)
        self._ref_x: list[float] = []
        self._ref_start = 0
        self._ref: dict[str, float] | None = None
        self._blocks: BlockTests | None = None  # None for a constant reference
        self._range: BernoulliCusum | None = None
        self._discrete: CategoricalMonitor | None = None
        self._last_alert: dict[str, list[int]] = {}  # detector -> [position, severity rank]
        self.n = 0
        self.detections = 0

    # -- configuration -----------------------------------------------------------------
    def calibrate(self, arl_events: float) -> None:
        """Give each of this monitor's detectors ``arl_events`` between false alarms."""
        self._arl = float(arl_events)
        if self._discrete is not None:
            self._discrete.calibrate(arl_events)
        if self._ref is not None:
            self._set_thresholds()

    def _set_thresholds(self) -> None:
        if self._blocks is not None:
            self._blocks.calibrate(self._arl)
        if self._range is not None:
            self._range.set_threshold(bernoulli_threshold(self._arl))

    # -- read-only views ---------------------------------------------------------------------
    @property
    def reference(self) -> dict[str, float] | None:
        """Reference statistics (mean, sd, min, max, n), once learnt."""
        return None if self._ref is None else dict(self._ref)

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
            return math.fsum(self._ref_x) / len(self._ref_x) if self._ref_x else None
        recent = self._blocks.current_mean if self._blocks is not None else None
        return ref["mean"] if recent is None else recent

    # -- update --------------------------------------------------------------------------
    def update(self, x: np.ndarray, pos: np.ndarray, ts: np.ndarray) -> list[Detection]:
        """Feed finite values with their event positions and times; return detections.

        Values beyond +-MAX_ABS_VALUE are skipped (callers count them as unusable).
        """
        usable = np.abs(x) <= MAX_ABS_VALUE
        if not usable.all():
            x, pos, ts = x[usable], pos[usable], ts[usable]
        out: list[Detection] = []
        n = len(x)
        self.n += n
        i = 0
        ref_size = self.settings.reference_size
        while i < n:
            if self._ref is None:
                if not self._ref_x:
                    self._ref_start = int(pos[i])
                take = min(ref_size - len(self._ref_x), n - i)
                chunk = x[i : i + take]
                self._ref_x.extend(chunk.tolist())
                i += take
                if len(self._ref_x) == ref_size:
                    self._finish_reference(int(pos[i - 1]))
                continue
            if self._discrete is not None:
                out += self._discrete.update(
                    [category_name(v) for v in x[i:].tolist()], pos[i:], ts[i:]
                )
                break
            hit = self._monitor(x, pos, ts, i)
            if hit is None:
                break
            end, detection = hit
            out.append(detection)
            i = end + 1
        return out

    def _finish_reference(self, last_position: int) -> None:
        s = self.settings
        values = self._ref_x
        n = len(values)
        mean = math.fsum(values) / n
        sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
        lo, hi = min(values), max(values)
        ref: dict[str, float] = {
            "n": n, "mean": mean, "sd": sd, "min": lo, "max": hi,
            "start_position": self._ref_start, "end_position": last_position,
        }
        self._blocks = self._discrete = None
        self._ref = ref
        self._ref_x = []
        if len(np.unique(np.asarray(values))) <= _DISCRETE_MAX:
            self._discrete = CategoricalMonitor(s, self.signal, self.feature)
            self._discrete.calibrate(self._arl)
            zeros = np.zeros(n)
            self._discrete.update([category_name(v) for v in values], zeros.astype(np.int64), zeros)
            return
        self._blocks = BlockTests.fit(s, values, mean, sd)
        margin = _RANGE_MARGIN * (hi - lo)
        ref["range_low"], ref["range_high"] = lo - margin, hi + margin
        p0 = range_rate_bound(n)
        self._range = BernoulliCusum(p0, alternative_rate(p0), 1.0)
        self._set_thresholds()

    def _monitor(
        self, x: np.ndarray, pos: np.ndarray, ts: np.ndarray, i: int
    ) -> tuple[int, Detection] | None:
        """Test x[i:]; on the first detection return (index in x, detection)."""
        ref = self._ref
        assert ref is not None and self._range is not None
        # Each detector must consume exactly the values up to the first detection of
        # any of them (a suppressed detection keeps monitoring). The range test is
        # cheap to roll back, so it runs first and is replayed if a block test wins.
        before = self._range.to_state()
        seg = x[i:]
        outside = (seg < ref["range_low"]) | (seg > ref["range_high"])
        r = self._range.update_many(outside, TagView(pos, ts, i))
        end = len(x) if r < 0 else i + r + 1
        block_hit = self._blocks.run(x, pos, ts, i, end) if self._blocks is not None else None
        if block_hit is not None:
            j, fired = block_hit
            if r >= 0:
                self._range = BernoulliCusum.from_state(before)
                if self._range.update_many(outside[: j + 1 - i], TagView(pos, ts, i)) >= 0:
                    self._range.restart()  # fired on the same value: one detection
            return j, self._block_detection(j, fired, pos, ts)
        if r >= 0:
            j = i + r
            return j, self._range_detection(j, pos, ts, x[i : j + 1])
        return None

    # -- detections ------------------------------------------------------------------------
    def _finish_detection(self, detection: Detection) -> Detection:
        # One episode per monitor: its detectors often see the same change.
        apply_cooldown(self._last_alert, detection, self.settings.cooldown_events, "monitor")
        self.detections += 1
        if detection.suppressed:
            # Same episode: keep the reference; fired tests start afresh (the block
            # tests reset themselves on their next update).
            if self._range is not None and self._range.drift_detected:
                self._range.restart()
            return detection
        # Re-baseline: the next values form a new reference.
        self._ref = None
        self._blocks = self._discrete = None
        self._range = None
        return detection

    def _reference_stats(self) -> dict[str, float]:
        ref = self._ref
        assert ref is not None
        return {k: ref[k] for k in ("n", "mean", "sd", "min", "max", "start_position",
                                    "end_position")}

    def _block_detection(
        self, j: int, fired: list[str], pos: np.ndarray, ts: np.ndarray
    ) -> Detection:
        assert self._blocks is not None
        name = fired[0]
        report = self._blocks.report(name, int(pos[j]))
        onset = report["onset"]
        stats = {
            "reference": self._reference_stats(),
            "current": report["current"],
            "detectors_fired": fired,
            **report["extra"],
        }
        return self._finish_detection(
            Detection(
                signal=self.signal,
                feature=self.feature,
                detector=name,
                position=int(pos[j]),
                timestamp=float(ts[j]),
                onset_position=int(onset[0]),
                onset_timestamp=float(onset[1]),
                direction=report["direction"],
                severity=report["severity"],
                statistics=stats,
            )
        )

    def _range_detection(
        self, j: int, pos: np.ndarray, ts: np.ndarray, seen: np.ndarray
    ) -> Detection:
        det = self._range
        assert det is not None
        onset_pos, onset_ts = det.onset_tag
        rate = det.current_rate
        recent = seen[-min(len(seen), 1000):]
        stats = {
            "reference": {**self._reference_stats(), "outside_rate": det.p0},
            "current": {
                "outside_rate": rate,
                "n": int(pos[j]) - onset_pos + 1,
                "min": float(recent.min()),
                "max": float(recent.max()),
            },
        }
        return self._finish_detection(
            Detection(
                # Out-of-range inputs are a data-quality problem; out-of-range
                # predictions or errors belong to their own signal.
                signal="data_quality" if self.signal == "feature" else self.signal,
                feature=self.feature,
                detector="out_of_range",
                position=int(pos[j]),
                timestamp=float(ts[j]),
                onset_position=int(onset_pos),
                onset_timestamp=float(onset_ts),
                direction="up",
                severity=severity_from_rate(det.p0, rate),
                statistics=stats,
            )
        )

    # -- state ---------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "arl": self._arl,
            "ref_x": self._ref_x,
            "ref_start": self._ref_start,
            "ref": self._ref,
            "blocks": None if self._blocks is None else self._blocks.to_state(),
            "range": None if self._range is None else self._range.to_state(),
            "discrete": None if self._discrete is None else self._discrete.to_state(),
            "last_alert": dict(self._last_alert),
            "i": [self.n, self.detections],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self._arl = float(state["arl"])
        self._ref_x = [float(v) for v in state["ref_x"]]
        self._ref_start = int(state["ref_start"])
        self._ref = None if state["ref"] is None else dict(state["ref"])
        blocks = state["blocks"]
        self._blocks = None if blocks is None else BlockTests.from_state(self.settings, blocks)
        self._range = None if state["range"] is None else BernoulliCusum.from_state(state["range"])
        self._discrete = None
        if state["discrete"] is not None:
            self._discrete = CategoricalMonitor(self.settings, self.signal, self.feature)
            self._discrete.load_state(state["discrete"])
        self._last_alert = {str(k): [int(p), int(r)] for k, (p, r) in state["last_alert"].items()}
        self.n, self.detections = (int(v) for v in state["i"])
