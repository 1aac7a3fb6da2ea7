"""``out_of_range``: a rise of the share of values outside the reference range.

The range is the reference's [min, max] widened by 5% of its width on each side; the
design rate is the order-statistics bound 14 / n (whatever the distribution).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..calibration import alternative_rate, bernoulli_threshold, range_rate_bound
from ..contracts import severity_from_rate
from .contract import FitContext, Report
from .engines.bernoulli_cusum import BernoulliCusum
from .rate_cusum import BernoulliDetector
from .registry import register
from .two_sided import fmt

__all__ = ["OutOfRange"]


@register
class OutOfRange(BernoulliDetector):
    """Values outside the reference range [min, max] widened by 5% on each side."""

    name: ClassVar[str] = "out_of_range"

    @classmethod
    def fit(cls, ctx: FitContext) -> OutOfRange:
        n, factor = int(ctx.reference["n"]), float(ctx.reference.get("factor", 1.0))
        p0 = range_rate_bound(n)
        return cls(BernoulliCusum(p0, alternative_rate(p0),
                                  bernoulli_threshold(ctx.arl_events) * factor), [0, n, factor])

    def report(self, position: int, reference: dict[str, Any]) -> Report:
        c = self.cusum
        onset = c.onset_tag
        rate = c.current_rate
        return Report(onset=onset, direction="up", severity=severity_from_rate(c.p0, rate),
                      current={"outside_rate": rate, "n": position - onset[0] + 1},
                      extra={"design_rate": c.p0})

    @classmethod
    def describe(cls, statistics: dict[str, Any], direction: str) -> str:
        ref, cur = statistics.get("reference", {}), statistics.get("current", {})
        return (f"{cur.get('outside_rate', 0.0):.1%} of values outside the reference range "
                f"[{fmt(ref.get('min'))}, {fmt(ref.get('max'))}]")
