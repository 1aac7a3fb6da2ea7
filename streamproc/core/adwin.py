"""ADWIN: adaptive windowing (Bifet & Gavaldà, 2007), with state as plain data.

River's ADWIN (0.23+) is a Rust object that can neither be pickled nor inspected, so
a worker could not checkpoint it. This module implements the same algorithm, the
ADWIN2 exponential histogram with River's variance-based cut test, in Python, and
exposes its state as lists of floats (:meth:`ADWIN.to_state`). With the same
parameters it fires at the same index as ``river.drift.ADWIN`` (checked in
``tests/core/test_adwin.py``).

The monitor feeds it block means of standardized values, not raw events, so its
per-event cost is a fraction of a Python call.
"""

from __future__ import annotations

import math
from itertools import chain
from typing import Any

import numpy as np

__all__ = ["ADWIN"]


class ADWIN:
    """Detect a change in the mean of a stream by adaptive windowing.

    Parameters
    ----------
    delta
        Confidence of the cut test: smaller means fewer false alarms, later detections.
    clock
        Run the cut test every ``clock`` updates.
    max_buckets
        Buckets kept per size before two are merged into the next size.
    min_window_length
        Both sub-windows must hold at least this many items for a cut.
    grace_period
        No test before the window holds more than this many items.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(12345)
    >>> adwin = ADWIN()
    >>> stream = rng.choices([0, 1], k=1000) + rng.choices(range(4, 8), k=1000)
    >>> for i, x in enumerate(stream):
    ...     if adwin.update(x).drift_detected:
    ...         print(f"change detected at index {i}, window start {adwin.cut_position}")
    change detected at index 1023, window start 992
    """

    def __init__(
        self,
        delta: float = 0.002,
        clock: int = 32,
        max_buckets: int = 5,
        min_window_length: int = 5,
        grace_period: int = 10,
    ) -> None:
        if not 0.0 < delta < 1.0:
            raise ValueError(f"delta must be in (0, 1), got {delta!r}")
        if clock < 1:
            raise ValueError(f"clock must be >= 1, got {clock!r}")
        if max_buckets < 2:
            raise ValueError(f"max_buckets must be >= 2, got {max_buckets!r}")
        self.delta = float(delta)
        self.clock = int(clock)
        self.max_buckets = int(max_buckets)
        self.min_window_length = int(min_window_length)
        self.grace_period = int(grace_period)
        self._reset()

    def _reset(self) -> None:
        # _totals[i][j] / _variances[i][j]: the j-th oldest bucket holding 2**i items.
        self._totals: list[list[float]] = [[]]
        self._variances: list[list[float]] = [[]]
        self._tags: list[list[Any]] = [[]]  # tag of each bucket's oldest item
        self._total = 0.0
        self._variance = 0.0  # sum of squared deviations in the window
        self._width = 0
        self._tick = 0
        self._n = 0  # items seen since the last reset
        self._drift_detected = False
        self._cut_position: int | None = None
        self._cut_tag: Any = None

    # -- read-only verdicts -------------------------------------------------------------
    @property
    def drift_detected(self) -> bool:
        """Whether the last update cut the window."""
        return self._drift_detected

    @property
    def cut_position(self) -> int | None:
        """After a detection: index (since the last reset) where the kept window starts.

        It is the estimated onset of the change.
        """
        return self._cut_position

    @property
    def cut_tag(self) -> Any:
        """After a detection: the tag given with the first item of the kept window."""
        return self._cut_tag

    @property
    def width(self) -> int:
        return self._width

    @property
    def estimation(self) -> float:
        """Mean of the current window."""
        return self._total / self._width if self._width else 0.0

    @property
    def variance(self) -> float:
        """Variance of the items in the current window."""
        return self._variance / self._width if self._width else 0.0

    # -- update -------------------------------------------------------------------------
    def update(self, x: float, tag: Any = None) -> ADWIN:
        """Add one item; after a detection the next update starts a fresh window.

        ``tag`` labels the item (e.g. its event position and time), see :attr:`cut_tag`.
        """
        if self._drift_detected:
            self._reset()
        self._insert(float(x), tag)
        self._n += 1
        self._tick += 1
        if self._tick % self.clock == 0 and self._width > self.grace_period:
            kept_before = self._width
            while self._cut_once():
                pass
            if self._width != kept_before:
                self._drift_detected = True
                self._cut_position = self._n - self._width
                self._cut_tag = self._tags[-1][0]
        return self

    def _insert(self, x: float, tag: Any) -> None:
        self._totals[0].append(x)
        self._variances[0].append(0.0)
        self._tags[0].append(tag)
        self._width += 1
        if self._width > 1:
            d = x - self._total / (self._width - 1)
            self._variance += (self._width - 1) * d * d / self._width
        self._total += x
        self._merge_full_levels()

    def _merge_full_levels(self) -> None:
        level = 0
        while len(self._totals[level]) == self.max_buckets + 1:
            size = float(1 << level)
            t = self._totals[level]
            v = self._variances[level]
            mean_diff = t[0] / size - t[1] / size
            merged_total = t[0] + t[1]
            merged_var = v[0] + v[1] + size * 0.5 * mean_diff * mean_diff
            tags = self._tags[level]
            merged_tag = tags[0]
            del t[:2]
            del v[:2]
            del tags[:2]
            if level + 1 == len(self._totals):
                self._totals.append([])
                self._variances.append([])
                self._tags.append([])
            self._totals[level + 1].append(merged_total)
            self._variances[level + 1].append(merged_var)
            self._tags[level + 1].append(merged_tag)
            if len(self._totals[level + 1]) <= self.max_buckets:
                break
            level += 1

    def _cut_once(self) -> bool:
        """Test every cut point, oldest first; drop the oldest bucket if any cuts.

        Vectorised over the buckets with the same arithmetic, in the same order, as
        the sequential scan (cumulative sums are sequential in numpy), so decisions
        stay identical to River's.
        """
        levels = range(len(self._totals) - 1, -1, -1)
        counts = [len(self._totals[level]) for level in levels]
        m = sum(counts)
        if m < 2:
            return False
        totals = np.fromiter(chain.from_iterable(self._totals[lv] for lv in levels), float, m)
        sizes = np.repeat([float(1 << lv) for lv in levels], counts)
        # Every bucket but the newest closes a candidate older sub-window W0.
        n0 = np.cumsum(sizes)[:-1]
        n1 = float(self._width) - n0
        u0 = np.cumsum(totals)[:-1]
        u1 = np.subtract.accumulate(np.concatenate(([self._total], totals)))[1:-1]
        mwl = self.min_window_length
        delta_prime = math.log(2.0 * math.log(self._width) / self.delta)
        # Rounding can leave the running variance a hair below zero after deletions.
        variance = max(self._variance / self._width, 0.0)
        # Sub-windows shorter than min_window_length divide by zero here; they are
        # masked out below, as the sequential scan skips them.
        with np.errstate(divide="ignore", invalid="ignore"):
            m_recip = 1.0 / (n0 - mwl + 1.0) + 1.0 / (n1 - mwl + 1.0)
            epsilon = (
                np.sqrt(2.0 * m_recip * variance * delta_prime)
                + 2.0 / 3.0 * delta_prime * m_recip
            )
            cuts = (n1 >= mwl) & (n0 >= mwl) & (np.abs(u0 / n0 - u1 / n1) > epsilon)
        if cuts.any():
            self._drop_oldest()
            return True
        return False

    def _drop_oldest(self) -> None:
        level = len(self._totals) - 1
        size = 1 << level
        u = self._totals[level].pop(0)
        v = self._variances[level].pop(0)
        self._tags[level].pop(0)
        self._width -= size
        self._total -= u
        mean_kept = self._total / self._width
        d = u / size - mean_kept
        self._variance -= v + size * self._width * d * d / (size + self._width)
        if not self._totals[level] and level > 0:
            self._totals.pop()
            self._variances.pop()
            self._tags.pop()

    # -- state ----------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """Plain-data state: JSON-serialisable, restorable with :meth:`from_state`."""
        return {
            "params": [self.delta, self.clock, self.max_buckets, self.min_window_length,
                       self.grace_period],
            "totals": [list(level) for level in self._totals],
            "variances": [list(level) for level in self._variances],
            "tags": [list(level) for level in self._tags],
            "cut_tag": self._cut_tag,
            "sums": [self._total, self._variance],
            "counts": [self._width, self._tick, self._n, int(self._drift_detected),
                       -1 if self._cut_position is None else self._cut_position],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ADWIN:
        delta, clock, max_buckets, min_len, grace = state["params"]
        adwin = cls(float(delta), int(clock), int(max_buckets), int(min_len), int(grace))
        adwin._totals = [[float(x) for x in level] for level in state["totals"]]
        adwin._variances = [[float(x) for x in level] for level in state["variances"]]
        adwin._tags = [list(level) for level in state["tags"]]
        adwin._cut_tag = state["cut_tag"]
        lists = (adwin._totals, adwin._variances, adwin._tags)
        shapes = {tuple(len(level) for level in x) for x in lists}
        if len(shapes) != 1 or not adwin._totals:
            raise ValueError("ADWIN state has mismatched bucket lists")
        adwin._total, adwin._variance = (float(x) for x in state["sums"])
        width, tick, n, detected, cut = (int(x) for x in state["counts"])
        adwin._width, adwin._tick, adwin._n = width, tick, n
        adwin._drift_detected = bool(detected)
        adwin._cut_position = None if cut < 0 else cut
        return adwin
