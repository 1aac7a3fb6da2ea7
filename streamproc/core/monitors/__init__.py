"""Monitors of one signal: numeric, categorical and rate monitors.

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
from .numeric import NumericMonitor
from .numeric_pipeline import BlockPipeline
from .race import race
from .rate import RateMonitor

__all__ = [
    "apply_cooldown",
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
