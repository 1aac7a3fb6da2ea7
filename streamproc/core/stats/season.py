"""A declared season: compare each event with its own phase of the cycle.

Time-of-day traffic, weekday shares, a daily error-rate cycle: a reference window of a
few thousand events sees one phase of such a cycle, and the rest of the day then looks
like drift. A user who knows the cycle declares it (``seasonality: 1d``, in event
time). The monitor then learns its reference over at least one whole season, per phase
bin (24 bins by default: hours of a day), and tests each event against its bin:

* numeric values are standardised by their bin's reference mean and standard
  deviation before the usual pipeline (normal scores, whitening, block tests);
* categorical values are compared with their bin's reference shares;
* rates (nulls, errors) are tested against their bin's reference rate.

Phases are ``(timestamp mod period) / period`` in UTC epoch seconds, so ``1d`` bins
are hours of the UTC day and ``7d`` bins start on Thursday 00:00 UTC (the epoch).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidSetting

__all__ = ["MAX_BINS", "MIN_BINS", "MIN_BIN_EVENTS", "Season", "parse_duration"]

# Phase bins of a season: at least two phases; at most what a reference can fill
# (MIN_BIN_EVENTS each) within a few of the longest references.
MIN_BINS, MAX_BINS = 2, 1000

# A phase bin's reference statistics need this many events; bins still short of it
# after MAX_SEASONS seasons (no traffic at night) use the whole reference's.
MIN_BIN_EVENTS = 30
MAX_SEASONS = 3

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_duration(text: str | float | int) -> float:
    """Seconds of a duration such as ``1d``, ``12h``, ``30m``, ``90s`` or a number.

    >>> parse_duration("1d"), parse_duration("12h"), parse_duration(90)
    (86400.0, 43200.0, 90.0)
    """
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = _DURATION.match(str(text))
        if not match:
            raise InvalidSetting(f"duration {text!r} is not a number with an optional unit "
                             "(s, m, h, d, w), e.g. 1d or 12h")
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidSetting(f"duration {text!r} must be positive")
    return seconds


@dataclass(frozen=True)
class Season:
    """A cycle of ``period`` seconds of event time, cut into ``bins`` phases.

    >>> Season(86400.0, 24).bin_of(np.array([0.0, 3599.0, 3600.0, 86399.0, 90000.0]))
    array([ 0,  0,  1, 23,  1])
    """

    period: float
    bins: int = 24

    def __post_init__(self) -> None:
        if not self.period > 0:
            raise InvalidSetting(f"season period must be positive, got {self.period!r}")
        if not MIN_BINS <= self.bins <= MAX_BINS:
            raise InvalidSetting(f"season bins must be between {MIN_BINS} and {MAX_BINS}, "
                                 f"got {self.bins!r}")

    def phase_of(self, ts: np.ndarray) -> np.ndarray:
        """Position in the cycle, in bins: [0, bins)."""
        phase = np.mod(np.asarray(ts, dtype=np.float64), self.period) / self.period
        return phase * self.bins

    def bin_of(self, ts: np.ndarray) -> np.ndarray:
        return np.minimum(self.phase_of(ts).astype(np.int64), self.bins - 1)

    def interpolate(self, per_bin: np.ndarray, phases: np.ndarray) -> np.ndarray:
        """Per-bin values read at continuous phases: linear between bin centres, around
        the cycle (a profile without steps at the bin edges).

        >>> s = Season(4.0, 4)
        >>> s.interpolate(np.array([0.0, 1.0, 2.0, 3.0]), np.array([0.5, 1.0, 3.75]))  # wraps
        array([0.  , 0.5 , 2.25])
        """
        u = np.asarray(phases, dtype=np.float64) - 0.5
        lo = np.floor(u)
        w = u - lo
        i0 = lo.astype(np.int64) % self.bins
        i1 = (i0 + 1) % self.bins
        return (1.0 - w) * per_bin[i0] + w * per_bin[i1]

    def covered(self, first: float, last: float, counts: list[int]) -> bool:
        """A reference from ``first`` to ``last`` (event times) with ``counts`` events
        per bin is complete: one whole season with every bin filled, or MAX_SEASONS
        seasons whatever the bins."""
        span = last - first
        if span >= MAX_SEASONS * self.period:
            return True
        return span >= self.period and min(counts) >= MIN_BIN_EVENTS

    def to_state(self) -> list[float]:
        return [self.period, self.bins]

    @classmethod
    def from_state(cls, state: list[float] | None) -> Season | None:
        return None if state is None else cls(float(state[0]), int(state[1]))
