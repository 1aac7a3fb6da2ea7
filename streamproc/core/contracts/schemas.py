"""The event contract: JSON Schemas in ``schemas/``, loaded from the files themselves.

The worker, the producer SDK, the tests and the docs all read the same files; in a
source checkout they are ``schemas/*.json`` at the repository root, in an installed
wheel they ship as ``streamproc/schemas/``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs

from ...errors import ConfigError
from ..errors import InvalidSetting

__all__ = ["SCHEMA_FILES", "schema", "schema_dir", "validator"]

SCHEMA_FILES = {
    "features": "feature_event.json",
    "predictions": "prediction_event.json",
    "labels": "label_event.json",
    "alert": "drift_alert.json",
}


@cache
def schema_dir() -> Path:
    package = Path(__file__).resolve().parents[2]  # streamproc/
    for candidate in (package / "schemas", package.parent / "schemas"):
        if (candidate / SCHEMA_FILES["features"]).is_file():
            return candidate
    raise ConfigError(
        f"the event schemas were not found next to {package}; reinstall streamproc "
        "(pip install -e . from the repository)"
    )


@cache
def schema(name: str) -> dict[str, Any]:
    """The parsed JSON Schema for an event kind (features, predictions, labels, alert, ...)."""
    try:
        filename = SCHEMA_FILES[name]
    except KeyError:
        raise InvalidSetting(f"unknown schema {name!r}; known: {sorted(SCHEMA_FILES)}") from None
    return json.loads((schema_dir() / filename).read_text(encoding="utf-8"))


@cache
def validator(name: str) -> Any:
    """Compiled validator (jsonschema-rs, formats asserted) for an event kind."""
    return jsonschema_rs.validator_for(schema(name), validate_formats=True)
