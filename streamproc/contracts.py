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

from .errors import ConfigError

__all__ = ["SCHEMA_FILES", "alert_schema_from_registry", "schema", "schema_dir", "validator"]

SCHEMA_FILES = {
    "features": "feature_event.json",
    "predictions": "prediction_event.json",
    "labels": "label_event.json",
    "alert": "drift_alert.json",
}


@cache
def schema_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "schemas", here.parent / "schemas"):
        if (candidate / SCHEMA_FILES["features"]).is_file():
            return candidate
    raise ConfigError(
        f"the event schemas were not found next to {here}; reinstall streamproc "
        "(pip install -e . from the repository)"
    )


@cache
def schema(name: str) -> dict[str, Any]:
    """The parsed JSON Schema for an event kind (features, predictions, labels, alert, ...)."""
    try:
        filename = SCHEMA_FILES[name]
    except KeyError:
        raise ValueError(f"unknown schema {name!r}; known: {sorted(SCHEMA_FILES)}") from None
    return json.loads((schema_dir() / filename).read_text(encoding="utf-8"))


@cache
def validator(name: str) -> Any:
    """Compiled validator (jsonschema-rs, formats asserted) for an event kind."""
    return jsonschema_rs.validator_for(schema(name), validate_formats=True)


def alert_schema_from_registry() -> dict[str, Any]:
    """``drift_alert.json`` with its ``detector`` enum taken from the detector registry.

    The committed file must equal this (a test checks it); after adding a detector,
    regenerate it with ``python -m streamproc.contracts``.
    """
    from .core.detectors import REGISTRY

    out = json.loads(json.dumps(schema("alert")))
    out["properties"]["detector"]["enum"] = list(REGISTRY)
    return out


def _write_alert_schema() -> Path:
    path = schema_dir() / SCHEMA_FILES["alert"]
    text = json.dumps(alert_schema_from_registry(), indent=2, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


if __name__ == "__main__":  # pragma: no cover - developer tool
    print(f"wrote {_write_alert_schema()}")
