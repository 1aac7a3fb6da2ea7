"""The detection core: pure Python, no Kafka client, no Faust.

What engines (the librdkafka worker, the Faust agents), the backtest, metrics and the
SDK use is named here; everything else is the core's own. The core is laid out by
concept, each package with its own docstring saying what it owns and what it may
import (checked by ``tests/test_layers.py`` with import-linter):

* :mod:`.units`: the units of state (a partition's models, a model version's
  monitors, a feature's, the label join);
* :mod:`.monitors`: monitors of one signal (numeric, categorical, rate), their block
  pipelines, the race of their detectors and the alert policy;
* :mod:`.reference`: reference windows and what is learnt from them;
* :mod:`.detectors`: every detector, its contract, inputs and the registry;
* :mod:`.calibration` and :mod:`.stats`: budgets and thresholds; pure statistics;
* :mod:`.contracts`: input events, detections and alerts (the core's boundary);
* at the root: :mod:`.settings` (monitor settings, their defaults and bounds),
  :mod:`.snapshot` and :mod:`.snapshot_arrays` (the snapshot codec) and
  :mod:`.errors`.

Names are loaded on first use (PEP 562), so that the SDK's event validation
(``schema``, ``validator``) does not import River and the monitors.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - for type checkers and readers
    from .calibration import FalseAlarmBudget
    from .contracts import (
        REASONS,
        Detection,
        EventBatch,
        EventDecoder,
        InputEvent,
        Rejection,
        make_alert,
        parse_timestamp,
        schema,
        validator,
    )
    from .detectors import DEFAULTS, RiverSpec
    from .errors import CoreError, InvalidSetting, InvalidState
    from .monitors import MonitorView, NumericMonitor
    from .settings import LIMITS, DetectionConfig, MonitorSettings
    from .stats import category_name, parse_duration
    from .units import Applied, ModelMonitor, Outcome, PartitionMonitors

# Name -> the package (or root module) that defines it.
_FACE = {
    "Applied": "units", "ModelMonitor": "units", "Outcome": "units",
    "PartitionMonitors": "units",
    "MonitorView": "monitors", "NumericMonitor": "monitors",
    "DEFAULTS": "detectors", "RiverSpec": "detectors",
    "FalseAlarmBudget": "calibration",
    "category_name": "stats", "parse_duration": "stats",
    "REASONS": "contracts", "Detection": "contracts", "EventBatch": "contracts",
    "EventDecoder": "contracts", "InputEvent": "contracts", "Rejection": "contracts",
    "make_alert": "contracts", "parse_timestamp": "contracts", "schema": "contracts",
    "validator": "contracts",
    "LIMITS": "settings", "DetectionConfig": "settings", "MonitorSettings": "settings",
    "CoreError": "errors", "InvalidSetting": "errors", "InvalidState": "errors",
}

__all__ = [
    "Applied",
    "CoreError",
    "DEFAULTS",
    "Detection",
    "DetectionConfig",
    "EventBatch",
    "EventDecoder",
    "FalseAlarmBudget",
    "InputEvent",
    "InvalidSetting",
    "InvalidState",
    "LIMITS",
    "ModelMonitor",
    "MonitorSettings",
    "MonitorView",
    "NumericMonitor",
    "Outcome",
    "PartitionMonitors",
    "REASONS",
    "Rejection",
    "RiverSpec",
    "category_name",
    "make_alert",
    "parse_duration",
    "parse_timestamp",
    "schema",
    "validator",
]


def __getattr__(name: str) -> Any:
    where = _FACE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{where}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_FACE})
