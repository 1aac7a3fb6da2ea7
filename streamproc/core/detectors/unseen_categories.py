"""``unseen_categories``: a rise of the share of categories the reference never saw.

The design rate is an upper confidence bound of the Good-Turing estimate of the unseen
mass (the share of categories seen exactly once in the reference).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..calibration import alternative_rate, bernoulli_threshold, wilson_upper
from ..contracts import severity_from_rate
from .contract import FitContext, Report
from .engines.bernoulli_cusum import BernoulliCusum
from .rate_cusum import BernoulliDetector
from .registry import register

__all__ = ["UnseenCategories"]


@register
class UnseenCategories(BernoulliDetector):
    """Categories the reference never saw, against the Good-Turing unseen mass."""

    name: ClassVar[str] = "unseen_categories"

    @classmethod
    def fit(cls, ctx: FitContext) -> UnseenCategories | None:
        ref = ctx.reference
        singletons, n = int(ref["singletons"]), int(ref["n"])
        factor = float(ref.get("factor", 1.0))
        p0 = wilson_upper(singletons, n)
        if p0 >= 0.5:  # most values are new anyway: nothing to test
            return None
        return cls(BernoulliCusum(p0, alternative_rate(p0),
                                  bernoulli_threshold(ctx.arl_events) * factor),
                   [singletons, n, factor])

    def report(self, position: int, reference: dict[str, Any]) -> Report:
        c = self.cusum
        onset = c.onset_tag
        rate = c.current_rate
        return Report(
            onset=onset, direction="up",
            severity=severity_from_rate(reference.get("unseen_rate", 0.0), rate),
            current={"unseen_rate": rate, "n": position - onset[0] + 1},
            extra={"design_rate": c.p0},
        )

    @classmethod
    def describe(cls, statistics: dict[str, Any], direction: str) -> str:
        ref, cur = statistics.get("reference", {}), statistics.get("current", {})
        return (f"unseen categories rose from {ref.get('unseen_rate', 0.0):.2%} to "
                f"{cur.get('unseen_rate', 0.0):.2%}")
