"""Units of state: a partition's models, a model version's monitors, a feature's.

:class:`PartitionMonitors` is what a snapshot holds (every model of one partition
number, its label joins and the offsets it includes, so redelivered events are skipped
here and nowhere else); :class:`ModelMonitor` holds a model version's monitors and
splits its budget; :class:`FeatureMonitor` a feature's values and data quality;
:mod:`.label_join` joins labels to predictions; :class:`ModelPlaces` bounds the models
a partition holds and evicts idle ones (:mod:`.places`). May import every package of the core
below it (monitors and down); nothing imports it but the core's face.
"""

from __future__ import annotations

from .feature import FeatureMonitor, kind_of
from .label_join import JoinBuffer, Outcome, is_number
from .model import ModelMonitor, task_of
from .model_wide import ModelWide, PerformanceView
from .partition import Applied, PartitionMonitors
from .places import ModelPlaces, Segment
from .rows import group_rows

__all__ = [
    "Applied",
    "FeatureMonitor",
    "group_rows",
    "is_number",
    "JoinBuffer",
    "kind_of",
    "ModelMonitor",
    "ModelPlaces",
    "ModelWide",
    "Outcome",
    "PartitionMonitors",
    "PerformanceView",
    "Segment",
    "task_of",
]
