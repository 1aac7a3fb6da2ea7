"""River's drift detectors by configuration: specs, adapters, calibration, safe state.

``river: drift.KSWIN`` in the settings becomes a :class:`RiverSpec`; each allowed River
class is registered as ``river.<path>`` (:class:`RiverDetector`), calibrated by replay
(:mod:`.calibration`) and saved through a whitelist of River classes (:mod:`.state`).
"""

from __future__ import annotations

from .adapter import RiverDetector, RiverSpec
from .calibration import CALIBRATION, calibrate_by_replay
from .classes import RIVER_CLASSES, river_name
from .state import load_river, river_params, save_river

__all__ = [
    "calibrate_by_replay",
    "CALIBRATION",
    "load_river",
    "RIVER_CLASSES",
    "river_name",
    "river_params",
    "RiverDetector",
    "RiverSpec",
    "save_river",
]
