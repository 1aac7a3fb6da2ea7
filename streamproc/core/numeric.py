"""Monitor of a numeric signal: its mean, its spread and its range.

Lifecycle: collect a reference window (``reference_size`` values), derive the
reference mean, standard deviation, range and distribution sketch, calibrate the
detectors for the budget, then test blocks of ``block_size`` values:

* ``page_hinkley``: two-sided Page-Hinkley test on block means of the values'
  normal scores (:mod:`streamproc.core.scores`), so skewed and heavy-tailed
  features keep the budget like normal ones;
* ``adwin``: ADWIN on block means of the raw values (mean shifts, adaptive
  window, onset = cut);
* ``spread``: two-sided Page-Hinkley test on block standard deviations of the
  normal scores, standardised by the reference blocks' own mean and spread, so a
  change of variance or shape with an unchanged mean is caught;
* ``out_of_range``: Bernoulli CUSUM on the rate of values outside the reference
  range [min, max] (widened by 5% on each side); in control that rate is below
  14 / n except with probability ~1e-5 (order statistics), whatever the
  distribution.

After a detection the monitor re-baselines: the next ``reference_size`` values
form a new reference. All arithmetic is sequential per block, so the state after a
stream does not depend on how the stream was cut into batches.

(About 450 lines: the four detectors share one reference and one re-baselining
lifecycle, and their reports read that private state; split, the lifecycle would
be spread over modules.)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .adwin import ADWIN
from .bernoulli import BernoulliCusum, alternative_rate
from .blocks import MAX_ABS_VALUE, block_stats, category_name
from .calibration import adwin_delta, bernoulli_threshold, cusum_threshold, range_rate_bound
from .categorical import CategoricalMonitor
from .detection import (
    Detection,
    apply_cooldown,
    severity_from_rate,
    severity_from_shift,
    severity_from_spread,
)
from .page_hinkley import PageHinkley
from .rates import TagView
from .scores import NormalScores
from .settings import MonitorSettings

__all__ = ["MAX_ABS_VALUE", "NumericMonitor", "block_stats"]

# The tested range is the reference [min, max] widened by this share of its width on
# each side: light-tailed features then almost never leave it in control, while a unit
# change or a flood of outliers still does at once.
_RANGE_MARGIN = 0.05
# A feature with at most this many distinct values in its reference (flags, small
# counts, ratings) is tested as categorical: block means and spreads of a few discrete
# values are too far from normal for the block tests' calibration.
_DISCRETE_MAX = 10
# A reference whose standard deviation is below this fraction of its mean's size is
# constant for all purposes: only the range test runs.
_CONSTANT_RTOL = 1e-12


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
        self._carry_x: list[float] = []
        self._carry_pos: list[int] = []
        self._carry_ts: list[float] = []
        self._ph: PageHinkley | None = None
        self._adwin: ADWIN | None = None
        self._spread: PageHinkley | None = None
        self._range: BernoulliCusum | None = None
        self._scores: NormalScores | None = None
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
        ref = self._ref
        assert ref is not None
        b = self.settings.block_size
        blocks = self._arl / b
        if self._ph is not None and self._adwin is not None:
            self._ph.threshold = cusum_threshold(
                blocks, self._ph.allowance, 2, ref["mean_se"], ref["scale_se"]
            )
            self._adwin.delta = adwin_delta(blocks, self.settings.adwin_clock)
        if self._spread is not None:
            self._spread.threshold = cusum_threshold(
                blocks, self._spread.allowance, 2, ref["spread_mean_se"], ref["spread_scale_se"]
            )
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
        if self._adwin is not None and self._adwin.width:
            return ref["mean"] + ref["sd"] * self._adwin.estimation
        return ref["mean"]

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
        b = s.block_size
        self._ph = self._adwin = self._spread = self._scores = self._discrete = None
        self._ref = ref
        self._ref_x = []
        if len(np.unique(np.asarray(values))) <= _DISCRETE_MAX:
            self._discrete = CategoricalMonitor(s, self.signal, self.feature)
            self._discrete.calibrate(self._arl)
            zeros = np.zeros(n)
            self._discrete.update([category_name(v) for v in values], zeros.astype(np.int64), zeros)
            return
        scores = NormalScores.fit(np.asarray(values))
        ref_scores = scores(np.asarray(values)).tolist()
        s_mean = math.fsum(ref_scores) / n
        s_sd = math.sqrt(math.fsum((v - s_mean) ** 2 for v in ref_scores) / (n - 1))
        constant = sd == 0.0 or sd <= _CONSTANT_RTOL * abs(mean) or s_sd <= 1e-9
        if not constant:
            _, block_sd = block_stats(np.asarray(ref_scores), s_mean, s_sd, b)
            nb = len(block_sd)
            m_s = math.fsum(block_sd.tolist()) / nb
            sd_s = math.sqrt(math.fsum((v - m_s) ** 2 for v in block_sd.tolist()) / (nb - 1))
            sd_s = max(sd_s, 1e-3 * m_s, 1e-12)
            ref.update(
                score_mean=s_mean,
                score_sd=s_sd,
                block_sd_mean=m_s,
                block_sd_sd=sd_s,
                # Sampling error of the reference, in units of each block statistic.
                mean_se=math.sqrt(b / n),
                scale_se=1.0 / math.sqrt(2.0 * (n - 1)),
                spread_mean_se=1.0 / math.sqrt(nb),
                spread_scale_se=1.0 / math.sqrt(2.0 * (nb - 1)),
            )
            shift_blocks = s.target_shift * math.sqrt(b)
            spread_shift = (1.0 - 1.0 / math.sqrt(s.spread_target)) * m_s / sd_s
            self._scores = scores
            self._ph = PageHinkley(allowance=shift_blocks / 2.0, threshold=1.0)
            self._adwin = ADWIN(delta=0.002, clock=s.adwin_clock)
            self._spread = PageHinkley(allowance=max(spread_shift / 2.0, 0.05), threshold=1.0)
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
        block_hit = self._blocks(x, pos, ts, i, end) if self._ph is not None else None
        if block_hit is not None:
            j, name, fired = block_hit
            if r >= 0:
                self._range = BernoulliCusum.from_state(before)
                if self._range.update_many(outside[: j + 1 - i], TagView(pos, ts, i)) >= 0:
                    self._range.restart()  # fired on the same value: one detection
            return j, self._block_detection(j, name, fired, pos, ts)
        if r >= 0:
            j = i + r
            return j, self._range_detection(j, pos, ts, x[i : j + 1])
        return None

    def _blocks(
        self, x: np.ndarray, pos: np.ndarray, ts: np.ndarray, i: int, end: int
    ) -> tuple[int, str, list[str]] | None:
        """Run the block detectors on carry + x[i:end]; return (index in x, name, fired)."""
        b = self.settings.block_size
        ref = self._ref
        assert ref is not None and self._ph and self._adwin
        carry = len(self._carry_x)
        if carry:
            xs = np.concatenate([np.asarray(self._carry_x), x[i:end]])
            ps = np.concatenate([np.asarray(self._carry_pos, dtype=np.int64), pos[i:end]])
            tss = np.concatenate([np.asarray(self._carry_ts), ts[i:end]])
        else:
            xs, ps, tss = x[i:end], pos[i:end], ts[i:end]
        nb = len(xs) // b
        if nb:
            assert self._scores is not None
            used = xs[: nb * b]
            means, score_sds = block_stats(
                self._scores(used), ref["score_mean"], ref["score_sd"], b
            )
            raw_means, raw_sds = block_stats(used, ref["mean"], ref["sd"], b)
            y_mean = (means * math.sqrt(b)).tolist()
            y_spread = ((score_sds - ref["block_sd_mean"]) / ref["block_sd_sd"]).tolist()
            raw_means_l = raw_means.tolist()
            raw_vars = (raw_sds * raw_sds).tolist()
            ph, adwin, spread = self._ph, self._adwin, self._spread
            for k in range(nb):
                first = k * b
                tag = (int(ps[first]), float(tss[first]))
                ph.update(y_mean[k], tag, raw_means_l[k])
                adwin.update(raw_means_l[k], tag)
                if spread is not None:
                    spread.update(y_spread[k], tag, raw_vars[k])
                if (ph.drift_detected or adwin.drift_detected
                        or (spread is not None and spread.drift_detected)):
                    named = (("page_hinkley", ph), ("adwin", adwin), ("spread", spread))
                    fired = [n for n, det in named if det is not None and det.drift_detected]
                    self._carry_x, self._carry_pos, self._carry_ts = [], [], []
                    return i + first + b - 1 - carry, fired[0], fired
        rest = nb * b
        self._carry_x = xs[rest:].tolist()
        self._carry_pos = ps[rest:].tolist()
        self._carry_ts = tss[rest:].tolist()
        return None

    # -- detections ------------------------------------------------------------------------
    def _finish_detection(self, detection: Detection) -> Detection:
        # One episode per monitor: its detectors often see the same change.
        apply_cooldown(self._last_alert, detection, self.settings.cooldown_events, "monitor")
        self.detections += 1
        if detection.suppressed:
            # Same episode: keep the reference; fired tests start afresh (the
            # Page-Hinkley and ADWIN ones reset themselves on their next update).
            if self._range is not None and self._range.drift_detected:
                self._range.restart()
            return detection
        # Re-baseline: the next values form a new reference.
        self._ref = None
        self._ph = self._adwin = self._spread = self._scores = self._discrete = None
        self._range = None
        self._carry_x, self._carry_pos, self._carry_ts = [], [], []
        return detection

    def _reference_stats(self) -> dict[str, float]:
        ref = self._ref
        assert ref is not None
        return {k: ref[k] for k in ("n", "mean", "sd", "min", "max", "start_position",
                                    "end_position")}

    def _block_detection(
        self, j: int, name: str, fired: list[str], pos: np.ndarray, ts: np.ndarray
    ) -> Detection:
        ref = self._ref
        assert ref is not None and self._ph and self._adwin
        b = self.settings.block_size
        mean, sd = ref["mean"], ref["sd"]
        if name == "spread":
            det = self._spread
            assert det is not None
            onset = det.onset_tag
            ratio = math.sqrt(max(det.aux_mean, 0.0))
            current = {"sd": sd * ratio, "n": int(pos[j]) - onset[0] + 1}
            direction = "up" if det.detected_direction == "up" else "down"
            severity = severity_from_spread(ratio)
            extra: dict[str, Any] = {"sd_ratio": ratio}
        elif name == "page_hinkley":
            det_ph = self._ph
            onset = det_ph.onset_tag
            shift = det_ph.aux_mean
            current = {"mean": mean + sd * shift, "n": int(pos[j]) - onset[0] + 1}
            direction = det_ph.detected_direction or "up"
            severity = severity_from_shift(shift)
            extra = {"shift_sd": shift}
        else:
            adwin = self._adwin
            onset = adwin.cut_tag
            shift = adwin.estimation
            current = {"mean": mean + sd * shift, "n": adwin.width * b}
            direction = "up" if shift >= 0 else "down"
            severity = severity_from_shift(shift)
            extra = {"shift_sd": shift}
        stats = {
            "reference": self._reference_stats(),
            "current": current,
            "detectors_fired": fired,
            **extra,
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
                direction=direction,
                severity=severity,
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
            "carry": [self._carry_x, self._carry_pos, self._carry_ts],
            "ph": None if self._ph is None else self._ph.to_state(),
            "adwin": None if self._adwin is None else self._adwin.to_state(),
            "spread": None if self._spread is None else self._spread.to_state(),
            "range": None if self._range is None else self._range.to_state(),
            "scores": None if self._scores is None else self._scores.to_state(),
            "discrete": None if self._discrete is None else self._discrete.to_state(),
            "last_alert": dict(self._last_alert),
            "i": [self.n, self.detections],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self._arl = float(state["arl"])
        self._ref_x = [float(v) for v in state["ref_x"]]
        self._ref_start = int(state["ref_start"])
        self._ref = None if state["ref"] is None else dict(state["ref"])
        cx, cp, ct = state["carry"]
        self._carry_x = [float(v) for v in cx]
        self._carry_pos = [int(v) for v in cp]
        self._carry_ts = [float(v) for v in ct]
        self._ph = None if state["ph"] is None else PageHinkley.from_state(state["ph"])
        self._adwin = None if state["adwin"] is None else ADWIN.from_state(state["adwin"])
        self._spread = None if state["spread"] is None else PageHinkley.from_state(state["spread"])
        self._range = None if state["range"] is None else BernoulliCusum.from_state(state["range"])
        self._scores = None if state["scores"] is None else NormalScores.from_state(state["scores"])
        self._discrete = None
        if state["discrete"] is not None:
            self._discrete = CategoricalMonitor(self.settings, self.signal, self.feature)
            self._discrete.load_state(state["discrete"])
        self._last_alert = {str(k): [int(p), int(r)] for k, (p, r) in state["last_alert"].items()}
        self.n, self.detections = (int(v) for v in state["i"])
