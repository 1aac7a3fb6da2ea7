"""The false-alarm budget an operator states, and its split over a model's detectors."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidSetting

__all__ = ["GROUP_SHARES", "MIN_BUDGET_EVENTS", "FalseAlarmBudget"]

# Fewer events between false alarms than this is no budget, an alarm on every block.
MIN_BUDGET_EVENTS = 10


# Share of a model's false-alarm budget per signal group. Inputs get most of it: a
# model has many features and few outputs; the prediction and performance detectors
# still get a 10% share each, i.e. more per detector than a feature has.
GROUP_SHARES = {"features": 0.8, "predictions": 0.1, "performance": 0.1}


@dataclass(frozen=True)
class FalseAlarmBudget:
    """Expected number of events between false alarms on a stable stream.

    Parameters
    ----------
    events
        Events between false alarms (default 100,000).
    scope
        ``"model"``: the budget holds for a whole model and is split over all its
        detectors (default). ``"monitor"``: it holds for each monitor, i.e. each
        (model, signal, feature), and is split over that monitor's detectors.

    With ``scope="model"`` the budget is first split between the model's three
    signal groups (see :data:`GROUP_SHARES`): input features (with their data
    quality), predictions, and performance. Each group's share is then split
    evenly over its detectors. The shares are fixed so that a group's thresholds
    depend only on its own topic's events, never on which topic a worker happened
    to read first: that is what keeps detections identical after a crash.

    Examples
    --------
    >>> FalseAlarmBudget(100_000).detector_events(48, 6, group="features")
    6000000.0
    >>> FalseAlarmBudget(100_000).detector_events(4, 4, group="predictions")
    4000000.0
    >>> FalseAlarmBudget(100_000, "monitor").detector_events(48, 6)
    600000.0
    """

    events: float = 100_000.0
    scope: str = "model"

    def __post_init__(self) -> None:
        if not self.events >= MIN_BUDGET_EVENTS:
            raise InvalidSetting(f"false-alarm budget must be at least {MIN_BUDGET_EVENTS} "
                                 f"events, got {self.events!r}")
        if self.scope not in ("model", "monitor"):
            raise InvalidSetting(f"budget scope must be 'model' or 'monitor', got {self.scope!r}")

    def detector_events(
        self, n_group_detectors: int, n_monitor_detectors: int, group: str = "features"
    ) -> float:
        """Events between false alarms that one detector may use (Bonferroni split)."""
        if self.scope == "monitor":
            return float(self.events) * max(1, n_monitor_detectors)
        return float(self.events) * max(1, n_group_detectors) / GROUP_SHARES[group]
