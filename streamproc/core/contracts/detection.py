"""What a monitor reports when it detects a change, and how severe the change is."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Detection",
    "SEVERITIES",
    "Tag",
    "severity_from_rate",
    "severity_from_shift",
    "severity_from_spread",
    "severity_from_distance",
]

# A tag labels one observation: (position of the event in its model version, event time).
Tag = tuple[int, float]

SEVERITIES = ("low", "medium", "high", "critical")


@dataclass
class Detection:
    """A change found by one detector of one monitor.

    Positions count the events of a model version from 0; times are event
    timestamps in epoch seconds.
    """

    signal: str
    feature: str | None
    detector: str
    position: int
    timestamp: float
    onset_position: int
    onset_timestamp: float
    direction: str
    severity: str
    statistics: dict[str, Any] = field(default_factory=dict)
    # The reference window the detection was judged against, the detector's parameters
    # and the budget in force (an auditor's questions).
    provenance: dict[str, Any] = field(default_factory=dict)
    # The change in the words of the detector that fired (its ``describe``): alerts,
    # their summaries and the backtest's table all show this text.
    description: str = "changed"
    suppressed: bool = False  # inside the cooldown of an earlier alert: counted, not alerted
    source_row: int = -1  # row of the triggering event in the batch that was fed


def _grade(value: float, cuts: tuple[float, float, float]) -> str:
    for name, cut in zip(SEVERITIES, cuts, strict=False):
        if value < cut:
            return name
    return SEVERITIES[-1]


def severity_from_shift(shift_sd: float) -> str:
    """Severity of a mean shift given in reference standard deviations.

    >>> severity_from_shift(0.3), severity_from_shift(-1.5)
    ('medium', 'critical')
    """
    return _grade(abs(shift_sd), (0.25, 0.5, 1.0))


def severity_from_spread(sd_ratio: float) -> str:
    """Severity of a change of spread given as current sd / reference sd.

    >>> severity_from_spread(1.1), severity_from_spread(1.5), severity_from_spread(0.5)
    ('low', 'high', 'critical')
    """
    if sd_ratio <= 0:
        return SEVERITIES[-1]
    return _grade(abs(math.log2(sd_ratio)), (0.25, 0.5, 1.0))


def severity_from_rate(reference_rate: float, current_rate: float) -> str:
    """Severity of a rise of a rate (errors, nulls, unseen values), in absolute points.

    >>> severity_from_rate(0.1, 0.2), severity_from_rate(0.0, 1.0)
    ('high', 'critical')
    """
    return _grade(current_rate - reference_rate, (0.01, 0.05, 0.2))


def severity_from_distance(total_variation: float) -> str:
    """Severity of a change of a categorical distribution (total variation distance).

    >>> severity_from_distance(0.08)
    'medium'
    """
    return _grade(total_variation, (0.05, 0.1, 0.25))
