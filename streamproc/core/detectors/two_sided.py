"""A two-sided CUSUM over one block series: the shared mechanics of ``cusum`` and
``spread``, which differ in the series they read and in what they report."""

from __future__ import annotations

from typing import Any, ClassVar

from ..calibration import cusum_threshold
from ..errors import InvalidSetting
from .contract import VectorDetector
from .engines.integer_cusum import Cusum
from .inputs import Blocks

__all__ = ["TwoSidedCusum", "fmt"]

# The threshold of a test whose reference became too uncertain for its budget after it
# was fitted (a re-split of the budget): the solver's ceiling, i.e. silent.
_UNREACHABLE = 1e6


class TwoSidedCusum(VectorDetector):
    """Upper and lower CUSUMs of ``Blocks.<series>``, averaging ``Blocks.<aux>``."""

    input: ClassVar[str] = "blocks"
    series: ClassVar[str]
    aux: ClassVar[str]
    implementation: ClassVar[str]

    def __init__(self, allowance: float, block_size: int, mean_se: float, scale_se: float,
                 up: Cusum | None = None, down: Cusum | None = None) -> None:
        self.allowance = allowance
        self.block_size = block_size
        # Standard errors of the reference estimates the series is standardised by,
        # in units of the series: the threshold averages over them.
        self.mean_se = mean_se
        self.scale_se = scale_se
        self.up = up or Cusum(allowance, 1.0)
        self.down = down or Cusum(allowance, 1.0)

    def calibrate(self, arl_events: float) -> None:
        try:
            h = cusum_threshold(arl_events / self.block_size, self.allowance, 2, self.mean_se,
                                self.scale_se)
        except InvalidSetting:  # the reference is too uncertain for this budget
            h = _UNREACHABLE
        self.up.set_threshold(h)
        self.down.set_threshold(h)

    def feasible(self, arl_events: float) -> bool:
        """Whether a threshold keeps ``arl_events`` events between false alarms."""
        try:
            cusum_threshold(arl_events / self.block_size, self.allowance, 2, self.mean_se,
                            self.scale_se)
        except InvalidSetting:
            return False
        return True

    @property
    def drift_detected(self) -> bool:
        return self.up.drift_detected or self.down.drift_detected

    def restart(self) -> None:
        self.up.restart()
        self.down.restart()

    @property
    def side(self) -> Cusum:
        """The side that alarmed (the upper one when both did)."""
        return self.up if self.up.drift_detected or not self.down.drift_detected else self.down

    @property
    def direction(self) -> str:
        return "up" if self.side is self.up else "down"

    def scan(self, inp: Blocks, limit: int) -> int:
        if self.drift_detected:
            self.restart()
        y = inp.quantized(self.series)
        hits = [j for j in (self.up.scan(y, limit), self.down.scan(-y, limit)) if j >= 0]
        return min(hits) if hits else -1

    def advance(self, inp: Blocks, n: int) -> None:
        y, aux = inp.quantized(self.series), inp.quantized(self.aux)
        self.up.advance(y, aux, inp.tags, n)
        self.down.advance(-y, aux, inp.tags, n)

    @property
    def score(self) -> float:
        return max(self.up.statistic, self.down.statistic) / self.up.threshold

    def params(self) -> dict[str, Any]:
        return {"implementation": self.implementation, "block_size": self.block_size,
                "allowance": self.allowance, "threshold": self.up.threshold}

    def to_state(self) -> list[Any]:
        return [self.allowance, self.block_size, self.mean_se, self.scale_se,
                self.up.to_state(), self.down.to_state()]

    @classmethod
    def from_state(cls, state: list[Any]) -> TwoSidedCusum:
        allowance, b, mean_se, scale_se, up, down = state
        return cls(float(allowance), int(b), float(mean_se), float(scale_se),
                   Cusum.from_state(up), Cusum.from_state(down))


def fmt(x: Any) -> str:
    return f"{x:.4g}" if isinstance(x, float) else str(x)
