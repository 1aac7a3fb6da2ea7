"""What a rate monitor counts while it learns its reference rate.

Flags, ones, consecutive (1, 1) pairs (bursts), ones per block of ``DISPERSION_BLOCK``
flags (a slowly cycling rate), a declared season's counts per phase bin, and which
events the reference spans (its provenance). Counted in arrival order, so the counts do
not depend on how a stream is cut into batches.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..stats import Season, count_dispersion, markov_vif

__all__ = ["DISPERSION_BLOCK", "RATE_MIN_COUNT", "RateCounts"]

# A reference rate is learnt from at least this many of the rarer outcome (e.g. 200
# errors), which puts its relative error near 7%.
RATE_MIN_COUNT = 200
# Flags per block when measuring how much the reference's counts vary.
DISPERSION_BLOCK = 100


class RateCounts:
    """The counts of a rate reference being learnt."""

    def __init__(self, season: Season | None) -> None:
        self.season = season
        self.n = 0
        self.ones = 0
        self.start = 0  # position of the reference's first flag
        self.pairs = 0  # consecutive (1, 1) flags: its burstiness
        self.blocks: list[int] = []  # ones per block of DISPERSION_BLOCK flags
        self.last_flag = False  # the flag before the current batch (pairs across batches)
        self.window: dict[str, Any] = {}  # first/last event of the reference (provenance)
        bins = 0 if season is None else season.bins
        self.bin_n = [0] * bins  # a declared season's counts per phase bin
        self.bin_ones = [0] * bins
        self.span = [0.0, 0.0]

    def collect(self, x: np.ndarray, pos: np.ndarray, ts: np.ndarray,
                off: np.ndarray | None, i: int, take: int, ones: int) -> None:
        """Count x[i:i + take] into the reference."""
        chunk = x[i : i + take]
        # No flag set (the usual case: a feature that is never null): no count, no pairs,
        # empty blocks.
        chunk_ones = int(np.count_nonzero(chunk)) if ones else 0
        self.ones += chunk_ones
        if self.n == 0:
            self.last_flag = False
            self.window = {"first_position": int(pos[i]), "first_event_time": float(ts[i]),
                            "first_offset": -1 if off is None else int(off[i])}
        if take:
            self.window.update(
                last_position=int(pos[i + take - 1]), last_event_time=float(ts[i + take - 1]),
                last_offset=-1 if off is None else int(off[i + take - 1]))
        if chunk_ones:
            self.pairs += int(np.count_nonzero(chunk[1:] & chunk[:-1])) + int(
                bool(self.last_flag and chunk[0]))
        if take:
            self.last_flag = bool(chunk[-1])
            self._blocks(chunk, chunk_ones)
            if self.season is not None:
                self._bins(chunk, ts[i : i + take])
        self.n += take

    def _bins(self, chunk: np.ndarray, ts: np.ndarray) -> None:
        assert self.season is not None
        if self.n == 0:
            self.span = [float(ts[0]), float(ts[0])]
        self.span[1] = max(self.span[1], float(ts.max()))
        bins = self.season.bin_of(ts)
        n, ones = np.asarray(self.bin_n), np.asarray(self.bin_ones)
        np.add.at(n, bins, 1)
        np.add.at(ones, bins, chunk.astype(np.int64))
        self.bin_n, self.bin_ones = n.tolist(), ones.tolist()

    def _blocks(self, chunk: np.ndarray, chunk_ones: int) -> None:
        first = self.n // DISPERSION_BLOCK
        if not chunk_ones:
            last = (self.n + len(chunk) - 1) // DISPERSION_BLOCK
            ones = [0] * (last - first + 1)
        else:
            ids = (np.arange(self.n, self.n + len(chunk)) // DISPERSION_BLOCK) - first
            ones = np.bincount(ids, weights=chunk.astype(np.float64)).astype(np.int64).tolist()
        if self.n % DISPERSION_BLOCK and self.blocks:
            self.blocks[-1] += ones[0]
            ones = ones[1:]
        self.blocks.extend(ones)

    @property
    def vif(self) -> float:
        """Variance inflation of the reference's flag counts (1: independent): bursts
        (a two-state Markov model) or a slowly cycling rate (block-count dispersion)."""
        full = self.blocks[: self.n // DISPERSION_BLOCK]
        return max(markov_vif(self.n, self.ones, self.n - 1, self.pairs),
                   count_dispersion(np.asarray(full), DISPERSION_BLOCK))

    def enough(self, longest: int) -> bool:
        """A rate seen a few times is estimated too roughly to test for its doubling:
        keep learning until both outcomes were seen RATE_MIN_COUNT times (or never
        the rarer one), up to _RATE_MAX_FACTOR reference windows. A dependent stream
        (bursts, a cycling rate) learns over all of them: a slow cycle needs the span."""
        if self.season is not None:  # a declared season: a whole one, every bin filled
            return self.season.covered(self.span[0], self.span[1], self.bin_n)
        rare = min(self.ones, self.n - self.ones)
        if self.n >= longest:
            return True
        if rare == 0:
            return True
        return rare >= RATE_MIN_COUNT and self.vif == 1.0

    def to_state(self) -> list[Any]:
        return [[self.n, self.ones, self.start, self.pairs, int(self.last_flag)],
                list(self.blocks), [self.bin_n, self.bin_ones, self.span], dict(self.window)]

    @classmethod
    def from_state(cls, season: Season | None, state: list[Any]) -> RateCounts:
        (n, ones, start, pairs, last), blocks, (bin_n, bin_ones, span), window = state
        c = cls(season)
        c.n, c.ones, c.start, c.pairs = int(n), int(ones), int(start), int(pairs)
        c.last_flag = bool(last)
        c.blocks = [int(v) for v in blocks]
        c.bin_n, c.bin_ones = [int(v) for v in bin_n], [int(v) for v in bin_ones]
        c.span = [float(v) for v in span]
        c.window = dict(window)
        return c
