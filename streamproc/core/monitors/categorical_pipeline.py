"""A categorical monitor's way from categories to share blocks, and its carry.

Each value is coded by its reference category (and, with a declared season, its phase
bin); codes are cut into blocks of the reference's block size ``m`` and every block's
counts scored against the reference shares (or a dependent stream's predicted shares,
:func:`~streamproc.core.stats.block_scores`). The codes of a partial block wait in the
carry with the tag of their first event, and a dependent stream's prediction carries
over, so blocks, and so detections, do not depend on how the stream is cut into
batches (the categorical twin of :mod:`.numeric_pipeline`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..detectors import ShareBlocks, TagView
from ..stats import block_scores

__all__ = ["SharePipeline"]


class SharePipeline:
    """The partial block and the predicted shares of one categorical monitor."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.carry: list[int] = []  # codes of the partial block
        self.carry_tag: tuple[int, float] | None = None
        self.pred: list[float] | None = None  # predicted shares (a dependent stream's)
        self._predicted: list[np.ndarray] = []

    def blocks(self, ref: dict[str, Any], codes: np.ndarray, tags: TagView) -> ShareBlocks:
        """Share blocks of the carry followed by ``codes``."""
        m = ref["block"]
        k = len(ref["names"])
        carry = len(self.carry)
        all_codes = np.concatenate([np.asarray(self.carry, dtype=np.int64), codes]) \
            if carry else codes
        nb = len(all_codes) // m
        used = all_codes[: nb * m]
        expected = None
        if "season_shares" in ref:  # codes carry their phase bin: bin * k + category
            bins, used = np.divmod(used, k)
            expected = np.asarray(ref["season_shares"])[bins].reshape(nb, m, k).sum(axis=1)
        counts = np.bincount((np.arange(nb * m) // m) * k + used, minlength=nb * k).reshape(nb, k)
        start = None if self.pred is None else np.asarray(self.pred)
        y, _, self._predicted = block_scores(ref, counts, start=start, expected=expected)
        starts = np.arange(nb) * m - carry
        block_tags = [tags[int(j)] if j >= 0 else self.carry_tag for j in starts.tolist()]
        return ShareBlocks(y, counts, block_tags, starts + (m - 1))  # type: ignore[arg-type]

    def consume(self, ref: dict[str, Any], codes: np.ndarray, last: int, tags: TagView) -> None:
        """Keep the state of a pipeline that consumed ``codes`` up to index ``last``."""
        m = ref["block"]
        carry = len(self.carry)
        total = carry + last + 1  # values consumed, counting the old carry
        done = total - total % m  # values in complete blocks
        if ref.get("alpha") and done:
            self.pred = self._predicted[done // m - 1].tolist()
        if done == 0 and carry:  # no block completed: the old carry grows
            self.carry = self.carry + codes[: last + 1].tolist()
            return
        first = done - carry  # segment index of the new carry's first value
        self.carry = codes[first : last + 1].tolist()
        self.carry_tag = tags[first] if self.carry else None

    def to_state(self) -> tuple[list[Any], list[float] | None]:
        """(``[codes, tag]``, predicted shares): the monitor's "carry" and "predicted"."""
        return ([list(self.carry), None if self.carry_tag is None else list(self.carry_tag)],
                self.pred)

    def load_state(self, carry: list[Any], predicted: list[float] | None) -> None:
        codes, tag = carry
        self.carry = [int(v) for v in codes]
        self.carry_tag = None if tag is None else (int(tag[0]), float(tag[1]))
        self.pred = None if predicted is None else [float(v) for v in predicted]
        self._predicted = []
