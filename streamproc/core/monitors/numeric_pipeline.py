"""A numeric monitor's way from values to blocks, and what it carries between batches.

Each value is standardised by the reference (raw row) and turned into a whitened normal
score (whitening row); both rows are cut into blocks of ``block_size`` values in one
pass (:func:`~.blocks.block_stats`). A block's values may arrive over several batches:
the values of the partial block wait in the carry (with their positions and times), and
the whitening filter keeps its last inputs, so the blocks, and so every detection, do
not depend on how the stream is cut into batches.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..detectors import Blocks, Flags, TagView
from ..reference import NumericReference
from ..stats import block_stats

__all__ = ["BlockPipeline"]


class BlockPipeline:
    """The whitening history and the partial block of one numeric monitor."""

    def __init__(self, block_size: int) -> None:
        self.block_size = block_size
        self.reset()

    def reset(self) -> None:
        self.hist: list[float] = []  # the last whitening inputs (dependence model order)
        # The partial block: whitened scores, standardised raw values, positions, times.
        self._carry_u: list[float] = []
        self._carry_r: list[float] = []
        self._carry_pos: list[int] = []
        self._carry_ts: list[float] = []
        self._carried: tuple[np.ndarray, np.ndarray] = (np.zeros(0, np.int64), np.zeros(0))

    def inputs(
        self, ref: NumericReference, x: np.ndarray, pos: np.ndarray, ts: np.ndarray, i: int
    ) -> tuple[Flags, Blocks | None, np.ndarray, np.ndarray, np.ndarray]:
        """Range flags and block statistics of x[i:] (with the carry before it)."""
        seg = ref.deseasonalise(x[i:], ts[i:])
        tags = TagView(pos, ts, i)
        flags = Flags((seg < ref.range_low) | (seg > ref.range_high), tags)
        if ref.constant:
            return flags, None, seg, seg, seg
        b = self.block_size
        d = ref.centred_scores(seg)
        carry = len(self._carry_u)
        # Whitened scores (row 0) and standardised raw values (row 1), the carry first:
        # one array, so that both series are cut into blocks in one pass.
        ur = np.empty((2, carry + len(seg)))
        ur[0, carry:] = ref.whiten(d, self.hist)
        np.subtract(seg, ref.mean, out=ur[1, carry:])
        ur[1, carry:] /= ref.sd
        if carry:
            ur[0, :carry] = self._carry_u
            ur[1, :carry] = self._carry_r
            p_all = np.concatenate([np.asarray(self._carry_pos, dtype=np.int64), pos[i:]])
            t_all = np.concatenate([np.asarray(self._carry_ts), ts[i:]])
        else:
            p_all, t_all = pos[i:], ts[i:]
        u_all, r_all = ur[0], ur[1]
        self._carried = (p_all, t_all)
        nb = ur.shape[1] // b
        if nb == 0:  # the values only add to the carry (a trickle of events): no block test
            return flags, None, d, u_all, r_all
        used = nb * b
        (means, raw_means), (sds, raw_sds) = block_stats(ur, 0.0, 1.0, b)
        starts = np.arange(0, used, b)  # index in the carried arrays of each block's first value
        blocks = Blocks(
            z=means * math.sqrt(b),
            mean=means,
            spread=(sds - ref.block_sd_mean) / ref.block_sd_sd,
            raw_mean=raw_means,
            raw_var=raw_sds * raw_sds,
            tags=list(zip(p_all[starts].tolist(), t_all[starts].tolist(), strict=True)),
            ends=starts + (b - 1 - carry),
            values=(u_all[:used].reshape(nb, b), p_all[:used].reshape(nb, b),
                    t_all[:used].reshape(nb, b)),
        )
        return flags, blocks, d, u_all, r_all

    def consume(
        self, ref: NumericReference, last: int, d: np.ndarray, u_all: np.ndarray,
        r_all: np.ndarray, blocks: Blocks | None,
    ) -> None:
        """Keep the state of a pipeline that consumed the segment up to index ``last``
        (``blocks``: None when the segment completed no block)."""
        if ref.order:
            self.hist = (self.hist + d[: last + 1].tolist())[-ref.order:]
        b = self.block_size
        carry = len(self._carry_u)
        done = 0 if blocks is None else int(blocks.ends.searchsorted(last, side="right")) * b
        stop = last + 1 + carry
        p_all, t_all = self._carried
        self._carry_u = u_all[done:stop].tolist()
        self._carry_r = r_all[done:stop].tolist()
        self._carry_pos = p_all[done:stop].tolist()
        self._carry_ts = t_all[done:stop].tolist()

    def to_state(self) -> list[list[Any]]:
        return [list(self.hist), list(self._carry_u), list(self._carry_r),
                list(self._carry_pos), list(self._carry_ts)]

    def load_state(self, state: list[list[Any]]) -> None:
        hist, cu, cr, cp, ct = state
        self.hist = [float(v) for v in hist]
        self._carry_u = [float(v) for v in cu]
        self._carry_r = [float(v) for v in cr]
        self._carry_pos = [int(v) for v in cp]
        self._carry_ts = [float(v) for v in ct]
