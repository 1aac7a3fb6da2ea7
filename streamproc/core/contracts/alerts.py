"""Drift alerts: the JSON events published to the alerts topic (schemas/drift_alert.json)."""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from typing import Any

from ... import __version__
from .detection import Detection

__all__ = ["alert_id", "make_alert", "rfc3339", "summary"]


def rfc3339(epoch_seconds: float) -> str:
    """UTC RFC 3339 time with milliseconds.

    >>> rfc3339(1700000000.25)
    '2023-11-14T22:13:20.250Z'
    """
    stamp = datetime.fromtimestamp(epoch_seconds, tz=UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def alert_id(
    model_id: str,
    model_version: str,
    signal: str,
    feature: str | None,
    detector: str,
    topic: str,
    partition: int,
    offset: int,
) -> str:
    """Deterministic id: the same detection (same trigger event) always has the same id.

    Consumers drop duplicates by it: after a crash a worker may publish an alert again.

    >>> alert_id("m", "1", "feature", "x", "adwin", "features", 0, 42)
    'a7a68a23c7ab70ed4c6746c4de7f04fe'
    """
    parts = [model_id, model_version, signal, feature or "", detector, topic, str(partition),
             str(offset)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _clean(value: Any) -> Any:
    """JSON-safe copy: non-finite floats become None, tuples lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def summary(d: Detection, model_id: str, model_version: str) -> str:
    """One readable sentence about a detection (the change in the detector's words)."""
    what = f"{d.signal} '{d.feature}'" if d.feature else d.signal
    reference = d.provenance.get("reference", {})
    learnt = ""
    if reference.get("stage") in ("provisional", "refining"):
        learnt = (f" (against a reference still being learnt: {reference.get('n')} of "
                  f"{reference.get('target')} events)")
    return (
        f"{model_id} {model_version}: {what} {d.description}{learnt}; onset at event "
        f"{d.onset_position} ({rfc3339(d.onset_timestamp)}), detected at event {d.position} "
        f"by {d.detector} [{d.severity}]"
    )


def make_alert(
    d: Detection,
    model_id: str,
    model_version: str,
    topic: str,
    partition: int,
    offset: int,
    detected_at: float,
) -> dict[str, Any]:
    """The drift-alert event for a detection, per ``schemas/drift_alert.json``."""
    return {
        "alert_id": alert_id(
            model_id, model_version, d.signal, d.feature, d.detector, topic, partition, offset
        ),
        "model_id": model_id,
        "model_version": model_version,
        "signal": d.signal,
        "feature": d.feature,
        "detector": d.detector,
        "direction": d.direction,
        "severity": d.severity,
        "detected_at": rfc3339(detected_at),
        "event_timestamp": rfc3339(d.timestamp),
        "position": d.position,
        "onset": {"position": d.onset_position, "event_timestamp": rfc3339(d.onset_timestamp)},
        "source": {"topic": topic, "partition": partition, "offset": offset},
        "statistics": _clean(d.statistics),
        "provenance": _clean({**d.provenance, "model_version": model_version,
                              "streamproc_version": __version__}),
        "summary": summary(d, model_id, model_version),
    }
