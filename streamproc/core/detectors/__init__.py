"""Detectors and their registry: the one place a detector is declared.

Every detector a monitor can run, streamproc's own and River's, is a class registered
under the name its alerts carry, one module per detector named after it (``cusum``,
``adwin``, ``spread``, ``out_of_range``, ``missing_rate``, ``type_mismatch_rate``,
``error_rate``, ``unseen_categories``, ``categorical``, and for a classifier's scores and
a model's joint features ``estimated_accuracy``, ``calibration_check``, ``joint_drift``;
River's configured ones under :mod:`.river`). Names, the number of detectors per monitor
(which splits the false-alarm budget), alert summaries, the ``detector`` values allowed by
``schemas/drift_alert.json`` (:mod:`.alert_schema`) and the snapshot stamp all derive
from the registry, so adding a detector touches one new file (plus its import here).
Also owns the detector contract (:mod:`.contract`), what detectors read
(:mod:`.inputs`) and the exact integer CUSUM engines (:mod:`.engines`).
May import :mod:`streamproc.core.calibration`, :mod:`streamproc.core.contracts`,
:mod:`streamproc.core.stats`, :mod:`streamproc.core.snapshot_arrays` and
:mod:`streamproc.core.errors`; never a monitor.
"""

from __future__ import annotations

import importlib

from .contract import Detector, FitContext, Report, SequentialDetector, VectorDetector
from .inputs import (
    Blocks,
    CorrectnessBlocks,
    Flags,
    LabelledItems,
    LikelihoodRatios,
    ShareBlocks,
    TagView,
)
from .registry import DEFAULTS, REGISTRY, algorithms_stamp, build, detector_class, register

# Importing a detector's module registers it. The order is the registry's: the alert
# schema's enum, and the report priority when two detectors of a monitor alarm on the
# same event. River's configured detectors register after these.
BUILTIN = ("cusum", "adwin", "spread", "missing_rate", "type_mismatch_rate", "error_rate",
           "out_of_range", "unseen_categories", "categorical", "estimated_accuracy",
           "calibration_check", "joint_drift")
for _name in BUILTIN:
    importlib.import_module(f".{_name}", __name__)

from .estimated_accuracy import BLOCK_SIZE, TARGET_DROP  # noqa: E402
from .river import RiverDetector, RiverSpec  # noqa: E402 - registers River's after BUILTIN

__all__ = [
    "algorithms_stamp",
    "Blocks",
    "BLOCK_SIZE",
    "build",
    "CorrectnessBlocks",
    "DEFAULTS",
    "Detector",
    "detector_class",
    "FitContext",
    "Flags",
    "LabelledItems",
    "LikelihoodRatios",
    "register",
    "REGISTRY",
    "Report",
    "RiverDetector",
    "RiverSpec",
    "SequentialDetector",
    "ShareBlocks",
    "TagView",
    "TARGET_DROP",
    "VectorDetector",
]
