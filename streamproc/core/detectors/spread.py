"""``spread``: a two-sided CUSUM on block standard deviations.

Each block's standard deviation of whitened normal scores is standardised by the
reference blocks' own mean and spread of that statistic, so a change of variance
or shape with an unchanged mean (which the mean tests cannot see) moves it; the
threshold averages over the sampling error of those two reference estimates.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from ..contracts import severity_from_spread
from .contract import FitContext, Report
from .registry import register
from .two_sided import TwoSidedCusum, fmt

__all__ = ["SpreadCusum"]

# Smallest allowance: a spread test tuned for a tinier change alarms on noise.
_MIN_ALLOWANCE = 0.05


@register
class SpreadCusum(TwoSidedCusum):
    """Two-sided CUSUM of standardised block standard deviations."""

    name: ClassVar[str] = "spread"
    series: ClassVar[str] = "spread"
    aux: ClassVar[str] = "raw_var"
    implementation: ClassVar[str] = "streamproc two-sided CUSUM on block standard deviations"

    @classmethod
    def fit(cls, ctx: FitContext) -> SpreadCusum:
        # Shift of the standardised block sd when the variance grows by spread_target
        # (the block sd grows by its square root).
        ref = ctx.reference
        m_s, sd_s = ref["block_sd_mean"], ref["block_sd_sd"]
        shift = (1.0 - 1.0 / math.sqrt(ctx.settings.spread_target)) * m_s / sd_s
        return cls(max(shift / 2.0, _MIN_ALLOWANCE), ctx.settings.block_size,
                   ref["spread_mean_se"], ref["spread_scale_se"])

    def report(self, position: int, reference: dict[str, Any]) -> Report:
        side = self.side
        ratio = math.sqrt(max(side.aux_mean, 0.0))
        onset = side.onset_tag
        return Report(
            onset=onset,
            direction=self.direction,
            severity=severity_from_spread(ratio),
            current={"sd": reference["sd"] * ratio, "n": position - onset[0] + 1},
            extra={"sd_ratio": ratio},
        )

    @classmethod
    def describe(cls, statistics: dict[str, Any], direction: str) -> str:
        ref, cur = statistics.get("reference", {}), statistics.get("current", {})
        return (f"spread changed x{fmt(statistics.get('sd_ratio'))} "
                f"({fmt(ref.get('sd'))} -> {fmt(cur.get('sd'))} sd)")
