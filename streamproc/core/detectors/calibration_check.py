"""``calibration_check``: once labels arrive, is the score calibration still right?

Label-free estimation (``estimated_accuracy`` and the estimated-performance gauges)
assumes ``P(correct | score)`` is what the reference taught. A concept shift breaks that
without moving the scores, and the estimate cannot see it. Each labelled prediction
(labels may be a sample) gives its realised correctness beside its expected correctness;
this detector runs the two risk-adjusted CUSUMs of
:mod:`streamproc.core.calibration.risk_adjusted` on them: ``down`` (realised below
expected: the estimates are optimistic, errors about double) and ``up`` (pessimistic),
each with half the detector's budget. Their thresholds average Wald's bound over the
calibrator's own error (``bias_se``, from its bootstrap replicate maps).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..calibration import ODDS_RATIOS, check_increments, check_threshold
from ..contracts import severity_from_rate
from ..snapshot_arrays import pack, unpack
from .contract import FitContext, Report, VectorDetector
from .engines.integer_cusum import Cusum, quantize
from .inputs import LabelledItems
from .registry import register

__all__ = ["CalibrationCheck"]


@register
class CalibrationCheck(VectorDetector):
    """Two risk-adjusted CUSUMs of realised against expected correctness."""

    name: ClassVar[str] = "calibration_check"
    input: ClassVar[str] = "labelled"

    def __init__(self, sketch: np.ndarray, bias_se: float, down: Cusum | None = None,
                 up: Cusum | None = None) -> None:
        self.sketch = sketch  # quantiles of the reference's expected correctness
        self.bias_se = float(bias_se)
        self.sides = {"down": down or Cusum(0.0, 1.0), "up": up or Cusum(0.0, 1.0)}

    @classmethod
    def fit(cls, ctx: FitContext) -> CalibrationCheck:
        ref = ctx.reference
        det = cls(np.asarray(ref["sketch"], dtype=np.float64), float(ref["bias_se"]))
        det.calibrate(ctx.arl_events)
        return det

    def calibrate(self, arl_events: float) -> None:
        for side, rho in ODDS_RATIOS.items():
            h = check_threshold(self.sketch, rho, self.bias_se, arl_events / 2.0)
            self.sides[side].set_threshold(h)

    @property
    def drift_detected(self) -> bool:
        return any(c.drift_detected for c in self.sides.values())

    def restart(self) -> None:
        for c in self.sides.values():
            c.restart()

    @property
    def side(self) -> str:
        """The side that alarmed (``down`` when both did)."""
        return "down" if self.sides["down"].drift_detected or not self.sides[
            "up"].drift_detected else "up"

    @staticmethod
    def _series(inp: LabelledItems, side: str) -> np.ndarray:
        def make() -> np.ndarray:
            a, b = check_increments(inp.c, ODDS_RATIOS[side])
            return quantize(np.where(inp.x > 0.5, a, b))

        return inp.memo(side, make)

    def scan(self, inp: LabelledItems, limit: int) -> int:
        if self.drift_detected:
            self.restart()
        hits = [j for j in (c.scan(self._series(inp, side), limit)
                            for side, c in self.sides.items()) if j >= 0]
        return min(hits) if hits else -1

    def advance(self, inp: LabelledItems, n: int) -> None:
        aux = inp.memo("aux", lambda: np.stack([quantize(inp.x.astype(np.float64)),
                                                 quantize(inp.c.copy())], axis=1))
        for side, c in self.sides.items():
            c.advance(self._series(inp, side), aux, inp.tags, n)

    def report(self, position: int, reference: dict[str, Any]) -> Report:
        c = self.sides[self.side]
        onset = c.onset_tag
        realised, expected = c.aux_means
        worse = (realised, expected) if self.side == "down" else (expected, realised)
        return Report(
            onset=onset, direction=self.side,
            severity=severity_from_rate(1.0 - worse[1], 1.0 - worse[0]),
            current={"accuracy": realised, "expected_accuracy": expected,
                     "n": position - onset[0] + 1},
            extra={"odds_ratio": ODDS_RATIOS[self.side], "threshold": c.threshold},
        )

    @property
    def score(self) -> float:
        return max(c.statistic / c.threshold for c in self.sides.values())

    def params(self) -> dict[str, Any]:
        return {"implementation": "streamproc risk-adjusted CUSUMs (odds ratios 1/2 and 2)",
                "bias_se": self.bias_se,
                "thresholds": {k: c.threshold for k, c in self.sides.items()}}

    def to_state(self) -> list[Any]:
        return [pack(self.sketch), self.bias_se, self.sides["down"].to_state(),
                self.sides["up"].to_state()]

    @classmethod
    def from_state(cls, state: list[Any]) -> CalibrationCheck:
        sketch, bias_se, down, up = state
        return cls(unpack(sketch), float(bias_se), Cusum.from_state(down), Cusum.from_state(up))

    @classmethod
    def describe(cls, statistics: dict[str, Any], direction: str) -> str:
        cur = statistics.get("current", {})
        how = "below" if direction == "down" else "above"
        return (f"realised accuracy {cur.get('accuracy', 0.0):.2%} is {how} the estimated "
                f"{cur.get('expected_accuracy', 0.0):.2%} over {cur.get('n', 0):,} labelled "
                "predictions: the score calibration no longer holds (concept shift)")
