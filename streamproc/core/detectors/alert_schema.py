"""The alert schema's ``detector`` enum, derived from the registry (a developer tool).

``schemas/drift_alert.json`` lists every registered detector name; a test checks the
committed file against :func:`alert_schema_from_registry`, and
``python -m streamproc.core.detectors.alert_schema`` rewrites it after a detector is added.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..contracts import SCHEMA_FILES, schema, schema_dir
from .registry import REGISTRY

__all__ = ["alert_schema_from_registry"]


def alert_schema_from_registry() -> dict[str, Any]:
    """``drift_alert.json`` with its ``detector`` enum taken from the detector registry.

    The committed file must equal this (a test checks it); after adding a detector,
    regenerate it with ``python -m streamproc.core.detectors.alert_schema``.
    """
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
