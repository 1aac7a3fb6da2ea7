"""The block tests of a numeric monitor: mean and spread, on blocks of values.

* ``page_hinkley``: two-sided Page-Hinkley test on block means of the values'
  normal scores (:mod:`streamproc.core.scores`), so skewed and heavy-tailed
  features keep the budget like normal ones;
* ``adwin``: ADWIN on block means of the raw values (mean shifts, adaptive
  window, onset = cut);
* ``spread``: two-sided Page-Hinkley test on block standard deviations of the
  normal scores, standardised by the reference blocks' own mean and spread, so a
  change of variance or shape with an unchanged mean is caught.

Values that do not fill a block wait in a carry buffer; blocks are added column by
column (:func:`~streamproc.core.blocks.block_stats`), so results do not depend on
how a stream is cut into batches.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .adwin import ADWIN
from .blocks import block_stats
from .calibration import adwin_delta, cusum_threshold
from .detection import severity_from_shift, severity_from_spread
from .page_hinkley import PageHinkley
from .scores import NormalScores
from .settings import MonitorSettings

__all__ = ["BlockTests"]

# A reference whose standard deviation is below this fraction of its mean's size is
# constant for all purposes: there is nothing to standardise against.
_CONSTANT_RTOL = 1e-12


class BlockTests:
    """Page-Hinkley, ADWIN and spread tests on blocks, learnt from a reference."""

    def __init__(
        self, settings: MonitorSettings, scores: NormalScores, stats: dict[str, float],
        ph: PageHinkley, adwin: ADWIN, spread: PageHinkley,
    ) -> None:
        self.settings = settings
        self.scores = scores
        self.stats = stats  # raw and score moments, block-sd moments, sampling errors
        self.ph = ph
        self.adwin = adwin
        self.spread = spread
        self._carry_x: list[float] = []
        self._carry_pos: list[int] = []
        self._carry_ts: list[float] = []

    @classmethod
    def fit(
        cls, settings: MonitorSettings, values: list[float], mean: float, sd: float
    ) -> BlockTests | None:
        """Learn the tests from reference values; None if the reference is constant."""
        n = len(values)
        b = settings.block_size
        scores = NormalScores.fit(np.asarray(values))
        ref_scores = scores(np.asarray(values)).tolist()
        s_mean = math.fsum(ref_scores) / n
        s_sd = math.sqrt(math.fsum((v - s_mean) ** 2 for v in ref_scores) / (n - 1))
        if sd == 0.0 or sd <= _CONSTANT_RTOL * abs(mean) or s_sd <= 1e-9:
            return None
        _, block_sd = block_stats(np.asarray(ref_scores), s_mean, s_sd, b)
        nb = len(block_sd)
        m_s = math.fsum(block_sd.tolist()) / nb
        sd_s = math.sqrt(math.fsum((v - m_s) ** 2 for v in block_sd.tolist()) / (nb - 1))
        sd_s = max(sd_s, 1e-3 * m_s, 1e-12)
        stats = {
            "mean": mean,
            "sd": sd,
            "score_mean": s_mean,
            "score_sd": s_sd,
            "block_sd_mean": m_s,
            "block_sd_sd": sd_s,
            # Sampling error of the reference, in units of each block statistic.
            "mean_se": math.sqrt(b / n),
            "scale_se": 1.0 / math.sqrt(2.0 * (n - 1)),
            "spread_mean_se": 1.0 / math.sqrt(nb),
            "spread_scale_se": 1.0 / math.sqrt(2.0 * (nb - 1)),
        }
        shift_blocks = settings.target_shift * math.sqrt(b)
        spread_shift = (1.0 - 1.0 / math.sqrt(settings.spread_target)) * m_s / sd_s
        return cls(
            settings, scores, stats,
            PageHinkley(allowance=shift_blocks / 2.0, threshold=1.0),
            ADWIN(delta=0.002, clock=settings.adwin_clock),
            PageHinkley(allowance=max(spread_shift / 2.0, 0.05), threshold=1.0),
        )

    def calibrate(self, arl_events: float) -> None:
        """Give each test ``arl_events`` between false alarms."""
        s = self.stats
        blocks = arl_events / self.settings.block_size
        self.ph.threshold = cusum_threshold(
            blocks, self.ph.allowance, 2, s["mean_se"], s["scale_se"]
        )
        self.spread.threshold = cusum_threshold(
            blocks, self.spread.allowance, 2, s["spread_mean_se"], s["spread_scale_se"]
        )
        self.adwin.delta = adwin_delta(blocks, self.settings.adwin_clock)

    @property
    def current_mean(self) -> float | None:
        """Mean of ADWIN's adaptive window, in raw units (None while it is empty)."""
        if not self.adwin.width:
            return None
        return self.stats["mean"] + self.stats["sd"] * self.adwin.estimation

    def run(
        self, x: np.ndarray, pos: np.ndarray, ts: np.ndarray, i: int, end: int
    ) -> tuple[int, list[str]] | None:
        """Test carry + x[i:end]; on a detection return (index in x, tests that fired).

        Values after the detecting block are not consumed: the caller continues
        from the returned index + 1.
        """
        b = self.settings.block_size
        s = self.stats
        carry = len(self._carry_x)
        if carry:
            xs = np.concatenate([np.asarray(self._carry_x), x[i:end]])
            ps = np.concatenate([np.asarray(self._carry_pos, dtype=np.int64), pos[i:end]])
            tss = np.concatenate([np.asarray(self._carry_ts), ts[i:end]])
        else:
            xs, ps, tss = x[i:end], pos[i:end], ts[i:end]
        nb = len(xs) // b
        if nb:
            used = xs[: nb * b]
            means, score_sds = block_stats(self.scores(used), s["score_mean"], s["score_sd"], b)
            raw_means, raw_sds = block_stats(used, s["mean"], s["sd"], b)
            y_mean = (means * math.sqrt(b)).tolist()
            y_spread = ((score_sds - s["block_sd_mean"]) / s["block_sd_sd"]).tolist()
            raw_means_l = raw_means.tolist()
            raw_vars = (raw_sds * raw_sds).tolist()
            ph, adwin, spread = self.ph, self.adwin, self.spread
            for k in range(nb):
                first = k * b
                tag = (int(ps[first]), float(tss[first]))
                ph.update(y_mean[k], tag, raw_means_l[k])
                adwin.update(raw_means_l[k], tag)
                spread.update(y_spread[k], tag, raw_vars[k])
                if ph.drift_detected or adwin.drift_detected or spread.drift_detected:
                    named = (("page_hinkley", ph), ("adwin", adwin), ("spread", spread))
                    fired = [name for name, det in named if det.drift_detected]
                    self._carry_x, self._carry_pos, self._carry_ts = [], [], []
                    return i + first + b - 1 - carry, fired
        rest = nb * b
        self._carry_x = xs[rest:].tolist()
        self._carry_pos = ps[rest:].tolist()
        self._carry_ts = tss[rest:].tolist()
        return None

    def report(self, name: str, position: int) -> dict[str, Any]:
        """Onset, current statistics, direction and severity of the test ``name``."""
        mean, sd = self.stats["mean"], self.stats["sd"]
        if name == "spread":
            onset = self.spread.onset_tag
            ratio = math.sqrt(max(self.spread.aux_mean, 0.0))
            return {
                "onset": onset,
                "current": {"sd": sd * ratio, "n": position - onset[0] + 1},
                "direction": "up" if self.spread.detected_direction == "up" else "down",
                "severity": severity_from_spread(ratio),
                "extra": {"sd_ratio": ratio},
            }
        if name == "page_hinkley":
            onset = self.ph.onset_tag
            shift = self.ph.aux_mean
            current = {"mean": mean + sd * shift, "n": position - onset[0] + 1}
            direction = self.ph.detected_direction or "up"
        else:
            onset = self.adwin.cut_tag
            shift = self.adwin.estimation
            current = {"mean": mean + sd * shift,
                       "n": self.adwin.width * self.settings.block_size}
            direction = "up" if shift >= 0 else "down"
        return {"onset": onset, "current": current, "direction": direction,
                "severity": severity_from_shift(shift), "extra": {"shift_sd": shift}}

    def to_state(self) -> dict[str, Any]:
        return {
            "scores": self.scores.to_state(),
            "stats": dict(self.stats),
            "ph": self.ph.to_state(),
            "adwin": self.adwin.to_state(),
            "spread": self.spread.to_state(),
            "carry": [self._carry_x, self._carry_pos, self._carry_ts],
        }

    @classmethod
    def from_state(cls, settings: MonitorSettings, state: dict[str, Any]) -> BlockTests:
        tests = cls(
            settings,
            NormalScores.from_state(state["scores"]),
            {str(k): float(v) for k, v in state["stats"].items()},
            PageHinkley.from_state(state["ph"]),
            ADWIN.from_state(state["adwin"]),
            PageHinkley.from_state(state["spread"]),
        )
        cx, cp, ct = state["carry"]
        tests._carry_x = [float(v) for v in cx]
        tests._carry_pos = [int(v) for v in cp]
        tests._carry_ts = [float(v) for v in ct]
        return tests
