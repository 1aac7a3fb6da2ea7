"""When a numeric reference can be used: its stages, from the first value to complete.

A reference is learnt from a window of ``reference_size`` values, extended for a
dependent stream up to ``VIF`` windows (:class:`~.window.ReferenceWindow`). Waiting
for all of it before testing anything left strongly dependent streams untested for up
to ten windows, and learnt whatever happened meanwhile as normal. So a monitor tests
against a provisional reference while the real one is learnt:

* ``learning``: the first half-window; nothing is tested yet;
* ``provisional``: from the first half-window, the second half is tested against it;
* ``refining``: a dependent stream's first window is tested against while its longer
  reference is collected;
* ``detecting``: the complete reference.

A monitor can therefore detect from ``reference_size / 2`` values after its first
(``reference_size`` when the half-window is shorter than 4 blocks; with a declared
season, once the reference covers a whole season, as before). Stages change at fixed
counts of values, so they do not depend on how a stream is cut into batches.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..settings import MonitorSettings
from ..stats import Season
from .numeric import NumericReference
from .window import ReferenceWindow

__all__ = ["ReferenceStages"]

# A feature with at most this many distinct values in its reference (flags, small
# counts, ratings) is tested as categorical: block means and spreads of a few discrete
# values are too far from normal for the block tests' calibration.
DISCRETE_MAX = 10
# A provisional reference needs this many blocks: their spread's moments are learnt too.
_MIN_BLOCKS = 4


class ReferenceStages:
    """The window a numeric reference is being learnt from, and its next stage."""

    def __init__(self, settings: MonitorSettings, season: Season | None,
                 window: ReferenceWindow | None = None) -> None:
        self.settings = settings
        self.season = season
        self.window = window or ReferenceWindow(settings.reference_size, season)

    @property
    def half(self) -> int | None:
        """Values of the first half-window (None: shorter than 4 blocks, or a declared
        season, which needs the whole season first)."""
        s = self.settings
        half = s.reference_size // 2
        return half if self.season is None and half >= _MIN_BLOCKS * s.block_size else None

    def add(self, x: np.ndarray, pos: np.ndarray, ts: np.ndarray, i: int,
            off: np.ndarray | None) -> tuple[int, str | None]:
        """Collect values from x[i:] up to the next stage: (index of the first value not
        taken, the stage reached: ``provisional``, ``refining``, ``detecting``,
        ``discrete`` (the first window has few distinct values) or None)."""
        window = self.window
        full = window.window_full
        half = self.half
        until = half if half is not None and window.seen < half else None
        j = window.add(x, pos, ts, i, off, until)
        if until is not None and window.seen == half:
            return j, None if self.discrete else "provisional"
        if window.window_full and not full:
            if self.discrete:
                return j, "discrete"
            values = np.asarray(window.values)
            constant = float(values.max()) == float(values.min())
            window.extend(1.0 if constant else NumericReference.dependence(values).extension)
            if window.complete:
                return j, "detecting"
            # A declared season: a reference over part of it would call the rest drift.
            return j, None if self.season is not None else "refining"
        return j, "detecting" if window.complete else None

    @property
    def discrete(self) -> bool:
        return len(np.unique(np.asarray(self.window.values))) <= DISCRETE_MAX

    def learnt(self, stage: str) -> dict[str, Any]:
        """What a detection against a reference still being learnt says of it."""
        return {"stage": stage, "target": max(self.window.target, self.settings.reference_size)}

    def fit(self, stage: str) -> NumericReference:
        """The reference of ``stage``: what is collected so far, or all of it."""
        window = self.window if stage == "detecting" else self.window.prefix()
        return NumericReference.fit(self.settings, window)
