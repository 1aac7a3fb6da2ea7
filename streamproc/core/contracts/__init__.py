"""The core's contracts with the outside: input events, detections and alerts.

Owns what crosses the core's boundary: the input event types and their decoder
(validated against ``schemas/*.json``, loaded by :mod:`.schemas`), :class:`Detection`
(what a monitor reports) with its severity scale, and the drift alert built from a
detection (``schemas/drift_alert.json``). May import only :mod:`streamproc.core.errors`
of the core (and the standard library, numpy, orjson, jsonschema-rs): every other
package of the core imports it, it imports none of them.
"""

from __future__ import annotations

from .alerts import alert_id, make_alert, rfc3339, summary
from .detection import (
    SEVERITIES,
    Detection,
    Tag,
    severity_from_distance,
    severity_from_rate,
    severity_from_shift,
    severity_from_spread,
)
from .events import REASONS, EventBatch, EventDecoder, InputEvent, Rejection, parse_timestamp
from .schemas import SCHEMA_FILES, schema, schema_dir, validator

__all__ = [
    "alert_id",
    "Detection",
    "EventBatch",
    "EventDecoder",
    "InputEvent",
    "make_alert",
    "parse_timestamp",
    "REASONS",
    "Rejection",
    "rfc3339",
    "schema",
    "schema_dir",
    "SCHEMA_FILES",
    "SEVERITIES",
    "severity_from_distance",
    "severity_from_rate",
    "severity_from_shift",
    "severity_from_spread",
    "summary",
    "Tag",
    "validator",
]
