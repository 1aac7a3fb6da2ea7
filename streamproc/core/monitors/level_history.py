"""A numeric monitor's memory of its level alerts: does its level wander?

A stream whose level moves more slowly than the reference window can follow (a cycle
of days with a reference of hours, a trend) alerts, re-baselines, alerts again:
each alert is right at the monitor's time scale, and useless after the first. Two level
alerts (``cusum``, ``adwin``) within ``_HORIZON`` reference windows of each other mark
the level as wandering: that alert says so, once, with the levels it went through and
how to declare the cycle; from then on the monitor's references allow for the spread of
those levels (:meth:`~streamproc.core.reference.NumericReference.allow_level_wander`)
and only the widened range is tested.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..contracts import Detection

__all__ = ["LevelHistory"]

# Two level alerts within this many reference windows of each other: the level wanders.
_HORIZON = 20
# Level alerts remembered (the spread of their levels is the wander allowed for).
_MEMORY = 8


class LevelHistory:
    """The latest level alerts of one monitor: [position, level before, level after].

    >>> h = LevelHistory(reference_size=100)
    >>> d = Detection("feature", "x", "cusum", 500, 0.0, 480, 0.0, "up", "medium")
    >>> h.add(d, 0.0, 1.0); h.wandering
    False
    >>> d2 = Detection("feature", "x", "cusum", 900, 0.0, 880, 0.0, "up", "high")
    >>> h.add(d2, 1.0, 2.0); h.wandering, round(h.variance, 3)
    (True, 0.667)
    >>> d2.statistics["level_wander"]["levels"], "trend" in d2.description
    ([0.0, 1.0, 2.0], True)
    """

    def __init__(self, reference_size: int) -> None:
        self.horizon = _HORIZON * reference_size
        self.alerts: list[list[Any]] = []
        self.wandering = False

    def add(self, detection: Detection, before: float, after: float) -> None:
        """Remember a published level alert; the second within the horizon of the
        previous one marks the level as wandering and says so in ``detection``."""
        position = detection.position
        recent = bool(self.alerts) and position - self.alerts[-1][0] <= self.horizon
        keep = recent or self.wandering  # once wandering, every level counts
        self.alerts = (self.alerts if keep else [])[-(_MEMORY - 1):]
        self.alerts.append([position, before, after])
        if recent and not self.wandering:
            self.wandering = True
            span = position - self.alerts[0][0]
            levels = self.levels
            detection.statistics["level_wander"] = {
                "levels": levels, "span_events": span, "sd": float(np.std(levels)),
                "advice": "declare the cycle (detection.feature_seasonality) or raise "
                          "reference_size; level tests now allow for this wander"}
            detection.description += (
                f"; the level keeps moving ({len(levels)} levels over {span} events): a cycle "
                "or trend longer than the reference is suspected, declare it "
                "(feature_seasonality) or raise reference_size")

    @property
    def levels(self) -> list[float]:
        return [self.alerts[0][1], *(after for _, _, after in self.alerts)] if self.alerts \
            else []

    @property
    def variance(self) -> float:
        """Variance of the levels the remembered level alerts went through."""
        return float(np.var(self.levels)) if self.alerts else 0.0

    def to_state(self) -> list[Any]:
        return [[list(a) for a in self.alerts], self.wandering]

    def load_state(self, state: list[Any]) -> None:
        alerts, wandering = state
        self.alerts = [[int(p), float(a), float(b)] for p, a, b in alerts]
        self.wandering = bool(wandering)
