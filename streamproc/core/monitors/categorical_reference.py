"""What a categorical monitor counts while it learns its reference.

Counts per category (new ones beyond a cap pooled into "(other)": bounded memory on
high-cardinality features), counts per block of ``DISPERSION_BLOCK`` values (a sticky or
cycling stream's overdispersion) and a declared season's counts per phase bin, in
arrival order: the counts do not depend on how a stream is cut into batches.
"""

from __future__ import annotations

import math

import numpy as np

from ..stats import DISPERSION_BLOCK, OTHER, Season, dispersion

__all__ = ["CategoryCounts"]


class CategoryCounts:
    """The counts of a categorical reference being learnt."""

    def __init__(self, cap: int) -> None:
        self.cap = cap  # categories counted before new ones are pooled
        self.counts: dict[str, int] = {}
        self.n = 0
        self.blocks: list[dict[str, int]] = []  # counts per dispersion block
        self.bins: list[dict[str, int]] = []  # a declared season's, per phase bin
        self.span = [math.inf, -math.inf]  # first and latest event time

    def count(self, values: list[str], bins: list[int] | None = None) -> None:
        counts = self.counts
        cap = self.cap
        at = self.n
        for j, v in enumerate(values):
            if at % DISPERSION_BLOCK == 0:
                self.blocks.append({})
            block = self.blocks[-1]
            if v not in counts and len(counts) >= cap:
                v = OTHER
            counts[v] = counts.get(v, 0) + 1
            block[v] = block.get(v, 0) + 1
            if bins is not None:
                in_bin = self.bins[bins[j]]
                in_bin[v] = in_bin.get(v, 0) + 1
            at += 1
        self.n = at

    def count_seasonal(self, values: list[str], ts: np.ndarray, i: int, season: Season,
                       goal: int) -> int | None:
        """A declared season: count one value at a time until at least ``goal`` values
        cover a whole season; the index of the last value it took, or None (not yet)."""
        if not self.bins:
            self.bins = [{} for _ in range(season.bins)]
        bins = season.bin_of(ts[i:]).tolist()
        times = ts[i:].tolist()
        span = self.span
        for j, v in enumerate(values[i:]):
            span[0] = min(span[0], times[j]) if self.n == 0 else span[0]
            span[1] = max(span[1], times[j])
            self.count([v], [bins[j]])
            if self.n >= goal and season.covered(
                    span[0], span[1], [sum(b.values()) for b in self.bins]):
                return i + j
        return None

    def dispersion(self, min_share: float) -> float:
        """Overdispersion of the counts (1: none): :func:`~streamproc.core.stats.dispersion`."""
        return dispersion(self.counts, self.blocks, self.n, min_share)
