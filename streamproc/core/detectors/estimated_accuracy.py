"""``estimated_accuracy``: a fall of a classifier's accuracy, seen from its scores alone.

Each prediction's expected correctness (its calibrated probability of being right:
``p`` for a predicted positive, ``1 - p`` for a predicted negative, the predicted
class's probability for a multiclass model) is averaged over blocks of
``BLOCK_SIZE`` (32) predictions: block means of a skewed 0-1 quantity need more than the
numeric monitors' 16 to be near normal. The monitor maps each block mean to a normal
score against the reference's bootstrap distribution of block means
(:func:`~streamproc.core.stats.correctness_design`, inflated by the reference's dependence
across blocks where it shows) and this detector runs a one-sided CUSUM of the scores'
fall, tuned for a fall of ``TARGET_DROP`` (0.02) in accuracy (the allowance capped at
half a block-score sd: a larger one makes the threshold small, and the false-alarm rate
then depends on the tail of single blocks, which the scores only approximate). Its
threshold is Siegmund's, averaged over the reference's sampling error
(:func:`~streamproc.core.calibration.cusum_threshold`), like every CUSUM of streamproc.

What it assumes: the relation between scores and truth, ``P(correct | score)``, is the
reference's (``calibration_check`` tests that once labels arrive).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..calibration import cusum_threshold
from ..contracts import severity_from_rate
from ..errors import InvalidSetting
from .contract import FitContext, Report, VectorDetector
from .engines.integer_cusum import Cusum, quantize
from .inputs import CorrectnessBlocks
from .registry import register

__all__ = ["BLOCK_SIZE", "TARGET_DROP", "EstimatedAccuracy"]

BLOCK_SIZE = 32
TARGET_DROP = 0.02
# The threshold when no threshold keeps the budget (a too uncertain reference): silent.
_UNREACHABLE = 1e6


@register
class EstimatedAccuracy(VectorDetector):
    """One-sided CUSUM of the fall of block scores of expected correctness."""

    name: ClassVar[str] = "estimated_accuracy"
    input: ClassVar[str] = "correctness"

    def __init__(self, cusum: Cusum, design: dict[str, float]) -> None:
        self.cusum = cusum
        # mean (the reference's expected accuracy), scale, mean_se, scale_se, block_size,
        # target_drop: what calibrate() and report() need.
        self.design = design

    @classmethod
    def fit(cls, ctx: FitContext) -> EstimatedAccuracy:
        ref = ctx.reference
        design = {k: float(ref[k]) for k in ("mean", "scale", "mean_se", "scale_se")}
        design["block_size"] = float(ref.get("block_size", BLOCK_SIZE))
        design["target_drop"] = float(ref.get("target_drop", TARGET_DROP))
        allowance = min(0.5 * design["target_drop"] / design["scale"], 0.5)
        det = cls(Cusum(allowance, 1.0), design)
        det.calibrate(ctx.arl_events)
        return det

    def calibrate(self, arl_events: float) -> None:
        d = self.design
        try:
            h = cusum_threshold(arl_events / d["block_size"], self.cusum.allowance, sides=1,
                                mean_se=d["mean_se"], scale_se=d["scale_se"])
        except InvalidSetting:  # the reference is too uncertain for this budget
            h = _UNREACHABLE
        self.cusum.set_threshold(h)

    @property
    def drift_detected(self) -> bool:
        return self.cusum.drift_detected

    def restart(self) -> None:
        self.cusum.restart()

    @staticmethod
    def _series(inp: CorrectnessBlocks) -> tuple[np.ndarray, np.ndarray]:
        return (inp.memo("fall", lambda: quantize(-inp.z)),
                inp.memo("mean", lambda: quantize(inp.mean.copy())))

    def scan(self, inp: CorrectnessBlocks, limit: int) -> int:
        if self.cusum.drift_detected:
            self.cusum.restart()
        return self.cusum.scan(self._series(inp)[0], limit)

    def advance(self, inp: CorrectnessBlocks, n: int) -> None:
        y, aux = self._series(inp)
        self.cusum.advance(y, aux, inp.tags, n)

    def report(self, position: int, reference: dict[str, Any]) -> Report:
        c = self.cusum
        onset = c.onset_tag
        since = c.aux_mean  # mean block accuracy over the excursion
        expected = reference.get("accuracy", self.design["mean"])
        return Report(
            onset=onset, direction="down",
            severity=severity_from_rate(1.0 - self.design["mean"], 1.0 - since),
            current={"accuracy": since, "n": position - onset[0] + 1},
            extra={"fall": self.design["mean"] - since, "reference_expected": expected,
                   "threshold": c.threshold},
        )

    @property
    def score(self) -> float:
        return self.cusum.statistic / self.cusum.threshold

    def params(self) -> dict[str, Any]:
        d = self.design
        return {"implementation": "streamproc one-sided CUSUM of block scores of expected "
                "correctness", "block_size": int(d["block_size"]),
                "target_drop": d["target_drop"], "allowance": self.cusum.allowance,
                "threshold": self.cusum.threshold}

    def to_state(self) -> list[Any]:
        return [self.cusum.to_state(), self.design]

    @classmethod
    def from_state(cls, state: list[Any]) -> EstimatedAccuracy:
        cusum, design = state
        return cls(Cusum.from_state(cusum), {str(k): float(v) for k, v in design.items()})

    @classmethod
    def describe(cls, statistics: dict[str, Any], direction: str) -> str:
        ref, cur = statistics.get("reference", {}), statistics.get("current", {})
        text = (f"estimated accuracy fell from {ref.get('accuracy', 0.0):.2%} to "
                f"{cur.get('accuracy', 0.0):.2%} since the onset")
        if statistics.get("estimate") is not None:
            text += (f" (last {statistics.get('window', 0):,} predictions: "
                     f"{statistics['estimate']:.2%} [{statistics.get('lower', 0.0):.2%}, "
                     f"{statistics.get('upper', 0.0):.2%}])")
        return text
