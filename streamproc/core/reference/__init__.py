"""References: which values a monitor learns from, and what it learns.

Owns :class:`ReferenceWindow` (the first window, its extension on a dependent stream,
a declared season's coverage) and :class:`NumericReference` (sketch, dependence model,
range and the sampling errors the thresholds average over) and :class:`JointReference`
(the scores, prewhitening and whitening of a model's numeric features for joint drift).
May import
:mod:`streamproc.core.stats`, :mod:`streamproc.core.settings`,
:mod:`streamproc.core.snapshot_arrays` and :mod:`streamproc.core.errors`.
"""

from __future__ import annotations

from .joint import MARGINALS, JointReference, joint_reference_size, wandering
from .numeric import NumericReference
from .stages import DISCRETE_MAX, ReferenceStages
from .window import ReferenceWindow

__all__ = [
    "DISCRETE_MAX",
    "joint_reference_size",
    "JointReference",
    "MARGINALS",
    "ReferenceStages",
    "NumericReference",
    "ReferenceWindow",
    "wandering",
]
