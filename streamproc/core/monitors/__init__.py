"""Monitors of one signal: numeric, categorical and rate monitors; and two of a whole
model: a scored classifier's estimated performance and calibration
(:class:`EstimationMonitor`), its numeric features' joint structure (:class:`JointMonitor`).

Each learns a reference, turns values into its detectors' input (the numeric block
pipeline, category blocks, 0/1 flags), runs its detectors (:func:`race`: the earliest
alarm wins), turns an alarm into a :class:`~streamproc.core.contracts.Detection` and
applies the one-alert-per-episode cooldown (:mod:`.alarms`). Every monitor implements
:class:`Monitor` (:mod:`.contract`). May import every package below it:
:mod:`~streamproc.core.reference`, :mod:`~streamproc.core.detectors`,
:mod:`~streamproc.core.settings`, :mod:`~streamproc.core.calibration`,
:mod:`~streamproc.core.stats`, :mod:`~streamproc.core.contracts`.
"""

from __future__ import annotations

from .alarms import apply_cooldown, make_detection
from .categorical import CategoricalMonitor
from .contract import Monitor, MonitorView, ValueMonitor
from .estimation import EstimationMonitor, layout_of
from .estimation_window import ScoreLayout
from .joint import D_MAX, JointMonitor, as_matrix, select_features
from .numeric import NumericMonitor
from .numeric_pipeline import BlockPipeline
from .race import race
from .rate import RateMonitor

__all__ = [
    "apply_cooldown",
    "as_matrix",
    "D_MAX",
    "EstimationMonitor",
    "JointMonitor",
    "layout_of",
    "ScoreLayout",
    "select_features",
    "BlockPipeline",
    "CategoricalMonitor",
    "make_detection",
    "Monitor",
    "MonitorView",
    "NumericMonitor",
    "race",
    "RateMonitor",
    "ValueMonitor",
]
