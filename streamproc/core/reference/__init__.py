"""References: which values a monitor learns from, and what it learns.

Owns :class:`ReferenceWindow` (the first window, its extension on a dependent stream,
a declared season's coverage) and :class:`NumericReference` (sketch, dependence model,
range and the sampling errors the thresholds average over). May import
:mod:`streamproc.core.stats`, :mod:`streamproc.core.settings`,
:mod:`streamproc.core.snapshot_arrays` and :mod:`streamproc.core.errors`.
"""

from __future__ import annotations

from .numeric import NumericReference
from .stages import DISCRETE_MAX, ReferenceStages
from .window import ReferenceWindow

__all__ = [
    "DISCRETE_MAX",
    "ReferenceStages",
    "NumericReference",
    "ReferenceWindow",
]
