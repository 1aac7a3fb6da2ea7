"""``cusum``: a two-sided CUSUM on block means against the fixed reference.

This is Page's CUSUM test on the block means of the monitor's whitened normal
scores (:mod:`streamproc.core.numeric`), which are N(0, 1) on a stable stream
whatever the feature's scale, shape or dependence, so its threshold follows from
the false-alarm budget (:func:`~streamproc.core.calibration.cusum_threshold`).
It is not River's ``PageHinkley``: that one compares each value with a running
mean that forgets (``alpha``) and alarms at a threshold in the feature's raw
units, which is why at its defaults it fires about 1,400 times per 100k stable
events (benchmarks/results/detection.md). River's is available by configuration
(``river: drift.PageHinkley``).

Its onset is the first block of the alarming excursion; the monitor refines it to
an event within the blocks around it.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from ..detection import severity_from_shift
from . import register
from .base import FitContext, Report
from .two_sided import TwoSidedCusum, fmt

__all__ = ["MeanCusum"]


@register
class MeanCusum(TwoSidedCusum):
    """Two-sided CUSUM of block means (mean shifts, up or down)."""

    name: ClassVar[str] = "cusum"
    series: ClassVar[str] = "z"
    aux: ClassVar[str] = "raw_mean"
    implementation: ClassVar[str] = "streamproc two-sided CUSUM on block means"

    @classmethod
    def fit(cls, ctx: FitContext) -> MeanCusum:
        b = ctx.settings.block_size
        return cls(ctx.settings.target_shift * math.sqrt(b) / 2.0, b, ctx.reference["mean_se"],
                   ctx.reference["scale_se"])

    def report(self, position: int, reference: dict[str, Any]) -> Report:
        side = self.side
        shift = side.aux_mean  # mean raw block mean over the excursion, in reference sd
        onset = side.onset_tag
        return Report(
            onset=onset,
            direction=self.direction,
            severity=severity_from_shift(shift),
            current={"mean": reference["mean"] + reference["sd"] * shift,
                     "n": position - onset[0] + 1},
            extra={"shift_sd": shift},
        )

    @classmethod
    def describe(cls, statistics: dict[str, Any], direction: str) -> str:
        ref, cur = statistics.get("reference", {}), statistics.get("current", {})
        return (f"mean shifted {direction} by {abs(statistics.get('shift_sd', 0.0)):.2f} sd "
                f"({fmt(ref.get('mean'))} -> {fmt(cur.get('mean'))})")
