"""The base of the rate detectors: a Bernoulli CUSUM on one 0/1 flag per event.

They differ in what the flag means, which reference rate they are designed for
and how they describe an alarm:

* ``out_of_range``: the value lies outside the reference range (widened 5%); the
  design rate is the order-statistics bound 14 / n, whatever the distribution;
* ``missing_rate``, ``type_mismatch_rate``, ``error_rate``: null or absent values,
  values of the wrong type, wrong predictions; the design comes from the reference
  rate (:func:`~streamproc.core.calibration.bernoulli_design`);
* ``unseen_categories``: a category the reference never saw; the design rate is an
  upper bound of the Good-Turing estimate of the unseen mass.

Dependence (bursts of nulls, runs of errors) inflates the variance of the CUSUM's
walk; the monitor estimates it on the reference and the threshold is scaled by it
(see :mod:`streamproc.core.monitors.rate`). Each rate detector is its own module,
named after it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..calibration import (
    alternative_rate,
    bernoulli_design,
    bernoulli_threshold,
)
from ..contracts import severity_from_rate
from .contract import FitContext, Report, VectorDetector
from .engines.bernoulli_cusum import BernoulliCusum
from .inputs import Flags

# A design rate this high leaves no room for a rise worth alerting on.
MAX_DESIGN_RATE = 0.95

__all__ = ["MAX_DESIGN_RATE", "BernoulliDetector", "ReferenceRateDetector"]


class BernoulliDetector(VectorDetector):
    """A Bernoulli CUSUM with a design fixed at the reference; subclasses name it."""

    input: ClassVar[str] = "flags"

    def __init__(self, cusum: BernoulliCusum, design: list[float]) -> None:
        self.cusum = cusum
        # What calibrate() needs: [ones, n, dependence factor] of the reference.
        self.design = design

    def _threshold(self, arl_events: float) -> float:
        return bernoulli_threshold(arl_events)

    def calibrate(self, arl_events: float) -> None:
        self.cusum.set_threshold(self._threshold(arl_events) * self.design[2])

    @property
    def drift_detected(self) -> bool:
        return self.cusum.drift_detected

    def restart(self) -> None:
        self.cusum.restart()

    def scan(self, inp: Flags, limit: int) -> int:
        if self.cusum.drift_detected:
            self.cusum.restart()
        return self.cusum.scan(inp.x, limit, inp.tags, inp.bins)

    def advance(self, inp: Flags, n: int) -> None:
        self.cusum.advance(inp.x, n, inp.tags, inp.bins)

    def skip_zeros(self, n: int, bins: Any = None) -> None:
        if self.cusum.drift_detected:
            self.cusum.restart()
        self.cusum.skip_zeros(n, bins)

    def report(self, position: int, reference: dict[str, Any]) -> Report:
        c = self.cusum
        onset = c.onset_tag
        rate = c.current_rate
        return Report(
            onset=onset, direction="up",
            severity=severity_from_rate(reference.get("rate", c.p0), rate),
            current={"rate": rate, "n": position - onset[0] + 1},
            extra={"design_rate": c.p0, "tuned_for_rate": c.p1, "threshold": c.threshold},
        )

    @property
    def score(self) -> float:
        return self.cusum.statistic / self.cusum.threshold

    def params(self) -> dict[str, Any]:
        c = self.cusum
        return {"implementation": "streamproc Bernoulli log-likelihood-ratio CUSUM",
                "design_rate": c.p0, "tuned_for_rate": c.p1, "threshold": c.threshold}

    def to_state(self) -> list[Any]:
        return [self.cusum.to_state(), self.design]

    @classmethod
    def from_state(cls, state: list[Any]) -> BernoulliDetector:
        cusum, design = state
        ones, n, factor = design
        return cls(BernoulliCusum.from_state(cusum), [int(ones), int(n), float(factor)])

    @classmethod
    def describe(cls, statistics: dict[str, Any], direction: str) -> str:
        ref, cur = statistics.get("reference", {}), statistics.get("current", {})
        label = cls.name.replace("_", " ")
        return f"{label} rose from {ref.get('rate', 0.0):.2%} to {cur.get('rate', 0.0):.2%}"


class ReferenceRateDetector(BernoulliDetector):
    """Designed from the reference rate, averaged over its sampling error."""

    @classmethod
    def fit(cls, ctx: FitContext) -> ReferenceRateDetector | None:
        ref = ctx.reference
        ones, n, factor = int(ref["ones"]), int(ref["n"]), float(ref.get("factor", 1.0))
        p0, p1, h = bernoulli_design(ones, n, ctx.arl_events)
        bins = ref.get("bin_rates")
        if bins is not None:
            # A declared season: each phase bin's own rate, Lorden's threshold (its bound
            # holds whatever the design rate of each step).
            if max(bins) >= MAX_DESIGN_RATE:
                return None
            return cls(BernoulliCusum(p0, alternative_rate(p0),
                                      bernoulli_threshold(ctx.arl_events), bins),
                       [-1, n, factor])
        if p0 >= MAX_DESIGN_RATE:  # (nearly) always on: no rise left to detect
            return None
        return cls(BernoulliCusum(p0, p1, h * factor), [ones, n, factor])

    def _threshold(self, arl_events: float) -> float:
        ones, n, _ = self.design
        if ones < 0:  # seasonal design
            return bernoulli_threshold(arl_events)
        return bernoulli_design(int(ones), int(n), arl_events)[2]
