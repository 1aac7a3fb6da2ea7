"""From a detector's alarm to a Detection, and one alert per episode (the cooldown)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..contracts import SEVERITIES, Detection
from ..detectors import Detector, Report

__all__ = ["apply_cooldown", "make_detection"]


def apply_cooldown(
    last_alert: dict[str, list[int]], detection: Detection, cooldown: int,
    key: str | None = None,
) -> Detection:
    """One alert per episode: suppress a detection within ``cooldown`` events of its
    detector's last alert, unless it is more severe (an escalation alerts at once).

    ``last_alert`` maps ``key`` (default: the detector) to [position, severity rank]
    of its last alert.
    A suppressed detection is counted but not published, and the monitor keeps its
    reference: a real change that follows a false alarm is alerted when the cooldown
    ends, or at once if it is more severe, instead of being learnt as normal.

    >>> last = {}
    >>> d = Detection("feature", "x", "adwin", 100, 0.0, 90, 0.0, "up", "medium")
    >>> apply_cooldown(last, d, 50).suppressed, last
    (False, {'adwin': [100, 1]})
    >>> same = Detection("feature", "x", "adwin", 120, 0.0, 110, 0.0, "up", "medium")
    >>> apply_cooldown(last, same, 50).suppressed
    True
    >>> worse = Detection("feature", "x", "adwin", 130, 0.0, 110, 0.0, "up", "critical")
    >>> apply_cooldown(last, worse, 50).suppressed, last
    (False, {'adwin': [130, 3]})
    """
    rank = SEVERITIES.index(detection.severity)
    name = key or detection.detector
    last = last_alert.get(name)
    if last is not None and detection.position - last[0] < cooldown and rank <= last[1]:
        detection.suppressed = True
    else:
        last_alert[name] = [detection.position, rank]
    return detection


def make_detection(
    signal: str, feature: str | None, fired: Sequence[Detector], position: int,
    timestamp: float, report: Report, stats: dict[str, Any], window: dict[str, Any],
    budget: Any, arl_events: float,
) -> Detection:
    """The Detection of an alarm: named after the first detector that fired, with the
    others in its statistics, and its provenance: the reference ``window`` it was
    judged against, the detector's parameters and the false-alarm budget in force."""
    onset = report.onset or (position, timestamp)
    if len(fired) > 1:
        stats["detectors_fired"] = [d.name for d in fired]
    provenance = {
        "reference": window,
        "detector": {"name": fired[0].name, **fired[0].params()},
        "false_alarm_budget": {"events": float(budget.events), "scope": budget.scope,
                               "detector_events": float(arl_events)},
    }
    return Detection(
        signal=signal, feature=feature, detector=fired[0].name, position=position,
        timestamp=timestamp, onset_position=int(onset[0]), onset_timestamp=float(onset[1]),
        direction=report.direction, severity=report.severity, statistics=stats,
        provenance=provenance, description=fired[0].describe(stats, report.direction),
    )
