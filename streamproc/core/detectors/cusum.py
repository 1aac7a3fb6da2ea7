"""``cusum``: a two-sided CUSUM on block means against the fixed reference.

This is Page's CUSUM test on the block means of the monitor's whitened normal
scores (:mod:`streamproc.core.monitors.numeric`), which are N(0, 1) on a stable stream
whatever the feature's scale, shape or dependence, so its threshold follows from
the false-alarm budget (:func:`~streamproc.core.calibration.cusum_threshold`).
It is not River's ``PageHinkley``: that one compares each value with a running
mean that forgets (``alpha``) and alarms at a threshold in the feature's raw
units, which is why at its defaults it fires about 1,400 times per 100k stable
events (benchmarks/results/detection.md). River's is available by configuration
(``river: drift.PageHinkley``).

Its onset is refined from the first block of the alarming excursion to an event:
the values of that block are kept when the excursion starts, and at an alarm the
change point inside it is the maximum-likelihood one for a shift of the estimated
size (``argmax_t sum_{i>=t} (y_i - shift / 2)``). A change that starts in the
middle of a block is then placed within a few events, not 16.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from ..contracts import severity_from_shift
from ..snapshot_arrays import pack, unpack
from .contract import FitContext, Report
from .inputs import Blocks
from .registry import register
from .two_sided import TwoSidedCusum, fmt

__all__ = ["MeanCusum"]

# Blocks at the start of an excursion whose values are kept to place its onset: a
# noise excursion that a shift then continues rarely starts earlier than that.
_ONSET_BLOCKS = 2


@register
class MeanCusum(TwoSidedCusum):
    """Two-sided CUSUM of block means (mean shifts, up or down)."""

    name: ClassVar[str] = "cusum"
    series: ClassVar[str] = "z"
    aux: ClassVar[str] = "raw_mean"
    implementation: ClassVar[str] = "streamproc two-sided CUSUM on block means"

    def __init__(self, *args: Any, first: list[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Per side (up, down): [values, positions, times] of the excursion's first block.
        self.first: list[Any] = first if first is not None else [None, None]

    def advance(self, inp: Blocks, n: int) -> None:
        super().advance(inp, n)
        if n <= 0:
            return
        for k, side in enumerate((self.up, self.down)):
            if side.statistic == 0.0:
                self.first[k] = None
                continue
            if inp.values is None:
                continue
            u, p, t = inp.values
            j = side.started_at
            if j is not None:  # a new excursion: its first blocks (here or next batch)
                rows = slice(j, min(j + _ONSET_BLOCKS, n))
                self.first[k] = [u[rows].ravel().tolist(), p[rows].ravel().tolist(),
                                 t[rows].ravel().tolist()]
            elif self.first[k] is not None and len(self.first[k][0]) < _ONSET_BLOCKS * len(u[0]):
                more = _ONSET_BLOCKS - len(self.first[k][0]) // len(u[0])
                rows = slice(0, min(more, n))
                for col, arr in enumerate((u, p, t)):
                    self.first[k][col] += arr[rows].ravel().tolist()

    def restart(self) -> None:
        super().restart()
        self.first = [None, None]

    def refined_onset(self) -> tuple[int, float] | None:
        """The maximum-likelihood change point within the excursion's first blocks."""
        k = 0 if self.side is self.up else 1
        block = self.first[k]
        if block is None:
            return None
        u = np.asarray(block[0]) * (1.0 if k == 0 else -1.0)
        shift = abs(self.side.excursion_mean) / math.sqrt(self.block_size)
        gain = np.cumsum((u - shift / 2.0)[::-1])[::-1]  # gain[t] = sum_{i>=t}
        t = int(np.argmax(gain))
        return int(block[1][t]), float(block[2][t])

    def to_state(self) -> list[Any]:
        first = [None if f is None else [pack(f[0]), pack(f[1], "<i8"), pack(f[2])]
                 for f in self.first]
        return [*super().to_state(), first]

    @classmethod
    def from_state(cls, state: list[Any]) -> MeanCusum:
        *base, first = state
        det = super().from_state(base)
        assert isinstance(det, MeanCusum)
        det.first = [None if f is None else [unpack(f[0]).tolist(), unpack(f[1], "<i8").tolist(),
                                             unpack(f[2]).tolist()] for f in first]
        return det

    @classmethod
    def fit(cls, ctx: FitContext) -> MeanCusum | None:
        """None when no threshold keeps the budget: the reference's level is too
        uncertain (it wanders, see :func:`~streamproc.core.stats.level_wander`)."""
        b = ctx.settings.block_size
        det = cls(ctx.settings.target_shift * math.sqrt(b) / 2.0, b, ctx.reference["mean_se"],
                  ctx.reference["scale_se"])
        return det if det.feasible(ctx.arl_events) else None

    def report(self, position: int, reference: dict[str, Any]) -> Report:
        side = self.side
        shift = side.aux_mean  # mean raw block mean over the excursion, in reference sd
        onset = self.refined_onset() or side.onset_tag
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
