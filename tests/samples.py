"""Sample data shared by tests: a drift alert valid against its schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs

SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "drift_alert.json"


def drift_alert(**changes: Any) -> dict[str, Any]:
    """A drift alert valid against schemas/drift_alert.json, with ``changes`` applied."""
    alert = {
        "alert_id": "6da86e0aa24a0f18b225dc635419fbc8", "model_id": "churn-model",
        "model_version": "v3", "signal": "feature", "feature": "avg_session_minutes",
        "detector": "cusum", "direction": "up", "severity": "high",
        "detected_at": "2026-11-27T07:32:31.080Z", "event_timestamp": "2026-11-27T07:32:31.064Z",
        "position": 4559, "onset": {"position": 4496, "event_timestamp": "2026-11-27T07:32:29Z"},
        "source": {"topic": "features", "partition": 2, "offset": 4559},
        "statistics": {"reference": {"n": 2000, "mean": 10.85, "sd": 4.46},
                       "current": {"mean": 14.45, "n": 64}, "shift_sd": 0.80},
        "summary": "churn-model v3: feature 'avg_session_minutes' mean shifted up by 0.80 sd; "
                   "onset at event 4496, detected at event 4559 by cusum [high]",
        **changes,
    }
    jsonschema_rs.validator_for(json.loads(SCHEMA.read_text())).validate(alert)
    return alert
