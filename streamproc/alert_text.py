"""Drift alerts as one line of text, for terminals (the demo, ``streamproc alerts``).

An alert's ``summary`` is a full sentence that starts with the model, its version and
what drifted; a line that shows those in columns keeps only the rest of it.

Examples
--------
>>> alert = {"model_id": "m", "model_version": "2", "signal": "feature", "feature": "x",
...          "detector": "adwin", "severity": "high", "detected_at": "2026-11-27T07:32:31Z",
...          "summary": "m 2: feature 'x' mean shifted up by 0.80 sd; detected at event 159 "
...                     "by adwin [high]"}
>>> change(alert)
'mean shifted up by 0.80 sd; detected at event 159 by adwin [high]'
>>> print(alert_line(alert))
2026-11-27T07:32:31Z  m 2  feature/x  adwin  high  mean shifted up by 0.80 sd; detected at event 159
"""

from __future__ import annotations

from typing import Any

__all__ = ["alert_line", "change", "what_drifted"]


def what_drifted(alert: dict[str, Any]) -> str:
    """``signal/feature``, or the signal alone (the prediction itself, the error rate)."""
    return f"{alert['signal']}/{alert['feature']}" if alert.get("feature") else alert["signal"]


def change(alert: dict[str, Any]) -> str:
    """The summary without the model, version and signal it starts with."""
    text = alert["summary"].split(": ", 1)[-1]
    if alert.get("feature"):
        return text.removeprefix(f"{alert['signal']} '{alert['feature']}' ")
    return text.removeprefix(f"{alert['signal']} ")


def alert_line(alert: dict[str, Any]) -> str:
    """Time, model, version, what drifted, detector, severity, and the change."""
    return "  ".join([
        alert["detected_at"],
        f"{alert['model_id']} {alert['model_version']}",
        what_drifted(alert),
        alert["detector"],
        alert["severity"],
        change(alert).removesuffix(f" by {alert['detector']} [{alert['severity']}]"),
    ])
