"""``categorical``: a one-sided CUSUM on chi-square scores of category blocks.

The monitor (:mod:`streamproc.core.monitors.categorical`) turns each block of ``m`` values
into the chi-square distance of its category counts from the reference shares,
divided by its in-control excess, and into an approximately N(0, 1) score by the
Wilson-Hilferty cube root; this detector accumulates the scores' excess over an
allowance and alarms at a threshold calibrated like the numeric CUSUMs. The
category counts of the alarming excursion describe the change.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..calibration import cusum_threshold
from ..contracts import severity_from_distance
from .contract import FitContext, Report, VectorDetector
from .engines.integer_cusum import Cusum, quantize
from .inputs import ShareBlocks
from .registry import register

__all__ = ["SharesCusum"]

# Allowance of the chi-square CUSUM, in standard deviations of the score.
_ALLOWANCE = 0.5


@register
class SharesCusum(VectorDetector):
    """One-sided CUSUM of block chi-square scores (changed category shares)."""

    name: ClassVar[str] = "categorical"
    input: ClassVar[str] = "shares"

    def __init__(self, block: int, mean_se: float, scale_se: float,
                 cusum: Cusum | None = None) -> None:
        self.block = block
        self.mean_se = mean_se
        self.scale_se = scale_se
        self.cusum = cusum or Cusum(_ALLOWANCE, 1.0)
        self._y: np.ndarray | None = None

    @classmethod
    def fit(cls, ctx: FitContext) -> SharesCusum | None:
        ref = ctx.reference
        if len(ref["names"]) < 2:  # one category: no shares to compare
            return None
        return cls(int(ref["block"]), float(ref["mean_se"]), float(ref.get("scale_se", 0.0)))

    def calibrate(self, arl_events: float) -> None:
        self.cusum.set_threshold(cusum_threshold(
            max(arl_events / self.block, 2.0), _ALLOWANCE, 1, self.mean_se, self.scale_se))

    @property
    def drift_detected(self) -> bool:
        return self.cusum.drift_detected

    def restart(self) -> None:
        self.cusum.restart()

    def scan(self, inp: ShareBlocks, limit: int) -> int:
        if self.cusum.drift_detected:
            self.cusum.restart()
        self._y = quantize(inp.y)
        return self.cusum.scan(self._y, limit)

    def advance(self, inp: ShareBlocks, n: int) -> None:
        y = self._y if self._y is not None else quantize(inp.y)
        self.cusum.advance(y, inp.counts, inp.tags, n)
        self._y = None

    def report(self, position: int, reference: dict[str, Any]) -> Report:
        counts = np.asarray(self.cusum.aux_total, dtype=np.float64)
        total = max(int(counts.sum()), 1)
        current = (counts / total).tolist()
        shares = reference["shares"]
        tvd = 0.5 * sum(abs(a - b) for a, b in zip(current, shares, strict=True))
        names = reference["names"]
        return Report(
            onset=self.cusum.onset_tag, direction="changed",
            severity=severity_from_distance(tvd),
            current={"n": total, "shares": dict(zip(names, current, strict=True))},
            extra={"total_variation": tvd, "block_size": self.block},
        )

    @property
    def score(self) -> float:
        return self.cusum.statistic / self.cusum.threshold

    def params(self) -> dict[str, Any]:
        return {"implementation": "streamproc CUSUM on block chi-square scores",
                "block_size": self.block, "allowance": _ALLOWANCE,
                "threshold": self.cusum.threshold}

    def to_state(self) -> list[Any]:
        return [self.block, self.mean_se, self.scale_se, self.cusum.to_state()]

    @classmethod
    def from_state(cls, state: list[Any]) -> SharesCusum:
        block, mean_se, scale_se, cusum = state
        return cls(int(block), float(mean_se), float(scale_se), Cusum.from_state(cusum))

    @classmethod
    def describe(cls, statistics: dict[str, Any], direction: str) -> str:
        tvd = statistics.get("total_variation", 0.0)
        return f"category shares changed (total variation {tvd:.2f})"
