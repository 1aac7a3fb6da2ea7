"""Join labels to predictions by event_id, in bounded memory.

Labels usually arrive long after their prediction, sometimes never, occasionally
before it. Predictions wait for their label at most ``max_predictions`` entries
and until labels ``window_seconds`` later (in event time) have arrived; a label
that finds no prediction waits at most ``max_labels`` entries and until
predictions ``window_seconds`` later have arrived. Each side expires by the other
side's clock, so a worker reading one topic far ahead of the other (a backlog
after a restart) does not expire what is merely not read yet. What falls out is counted by
reason, never dropped silently: ``expired_predictions`` (no label came: normal
for unlabeled traffic), ``unmatched_labels`` (no prediction within the window:
too late, or an unknown event_id), ``duplicate_labels``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidSetting
from ..stats import category_name

__all__ = ["JoinBuffer", "Outcome", "is_number"]


@dataclass(frozen=True)
class Outcome:
    """A prediction with its label: one observation of model performance."""

    event_id: str
    model_version: str
    prediction: Any
    label: Any
    timestamp: float  # the label's time: when the model's error became known
    scores: dict[str, Any] | None = None  # the prediction's class scores, if it sent any

    def error(self, regression: bool) -> float:
        """The prediction's error: ``|prediction - label|`` for a regression (NaN unless
        both are numbers), else 1.0 if the classes differ and 0.0 if they agree.

        >>> Outcome("e", "1", 2.5, 4.0, 0.0).error(True)
        1.5
        >>> Outcome("e", "1", "a", "b", 0.0).error(False)
        1.0
        """
        if regression:
            if is_number(self.prediction) and is_number(self.label):
                return abs(float(self.prediction) - float(self.label))
            return math.nan
        return float(category_name(self.prediction) != category_name(self.label))


def is_number(value: Any) -> bool:
    """A JSON number (not a boolean)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class JoinBuffer:
    """Pending predictions and labels of one model.

    Examples
    --------
    >>> jb = JoinBuffer(max_predictions=2, max_labels=2, window_seconds=60)
    >>> jb.add_prediction("e1", "v1", "cat", 0.0)
    >>> jb.add_label("e1", "dog", 5.0)
    Outcome(event_id='e1', model_version='v1', prediction='cat', label='dog', timestamp=5.0, \
scores=None)
    >>> jb.add_label("e9", "dog", 6.0)  # no prediction yet: waits
    >>> jb.add_prediction("e9", "v1", "dog", 4.0)
    Outcome(event_id='e9', model_version='v1', prediction='dog', label='dog', timestamp=6.0, \
scores=None)
    >>> jb.add_label("e9", "dog", 7.0)  # a second label for e9
    >>> jb.add_label("e5", "cat", 8.0)  # never predicted: expires once predictions
    >>> jb.add_prediction("e2", "v1", "cat", 200.0)  # are a window later
    >>> jb.counts()
    {'joined': 2, 'expired_predictions': 0, 'unmatched_labels': 1, 'duplicate_labels': 1}
    """

    def __init__(self, max_predictions: int, max_labels: int, window_seconds: float) -> None:
        if max_predictions < 1 or max_labels < 1:
            raise InvalidSetting(
                f"join buffer sizes must be >= 1, got {max_predictions!r} and {max_labels!r}"
            )
        if window_seconds <= 0:
            raise InvalidSetting(f"join window must be positive, got {window_seconds!r}")
        self.max_predictions = max_predictions
        self.max_labels = max_labels
        self.window_seconds = float(window_seconds)
        # event_id -> [model_version, prediction, timestamp, scores]
        self._predictions: OrderedDict[str, list[Any]] = OrderedDict()
        # event_id -> [label, timestamp]
        self._labels: OrderedDict[str, list[Any]] = OrderedDict()
        self._joined_recent: OrderedDict[str, None] = OrderedDict()
        self._prediction_clock = float("-inf")  # latest prediction time seen
        self._label_clock = float("-inf")  # latest label time seen
        self.joined = 0
        self.expired_predictions = 0
        self.unmatched_labels = 0
        self.duplicate_labels = 0

    def counts(self) -> dict[str, int]:
        return {
            "joined": self.joined,
            "expired_predictions": self.expired_predictions,
            "unmatched_labels": self.unmatched_labels,
            "duplicate_labels": self.duplicate_labels,
        }

    def add_prediction(
        self, event_id: str, model_version: str, prediction: Any, timestamp: float,
        scores: dict[str, Any] | None = None,
    ) -> Outcome | None:
        if timestamp > self._prediction_clock:
            self._prediction_clock = timestamp
            self._expire_labels()
        pending = self._labels.pop(event_id, None)
        if pending is not None:
            return self._join(event_id, model_version, prediction, pending[0], pending[1],
                              scores)
        self._predictions[event_id] = [model_version, prediction, timestamp, scores]
        self._predictions.move_to_end(event_id)
        while len(self._predictions) > self.max_predictions:
            self._predictions.popitem(last=False)
            self.expired_predictions += 1
        return None

    def add_label(self, event_id: str, label: Any, timestamp: float) -> Outcome | None:
        if timestamp > self._label_clock:
            self._label_clock = timestamp
            self._expire_predictions()
        waiting = self._predictions.pop(event_id, None)
        if waiting is not None:
            return self._join(event_id, waiting[0], waiting[1], label, timestamp, waiting[3])
        if event_id in self._joined_recent:
            self.duplicate_labels += 1
            return None
        if event_id in self._labels:
            self.duplicate_labels += 1
        self._labels[event_id] = [label, timestamp]
        self._labels.move_to_end(event_id)
        while len(self._labels) > self.max_labels:
            self._labels.popitem(last=False)
            self.unmatched_labels += 1
        return None

    def _join(
        self, event_id: str, version: str, prediction: Any, label: Any, label_ts: float,
        scores: dict[str, Any] | None,
    ) -> Outcome:
        self.joined += 1
        self._joined_recent[event_id] = None
        while len(self._joined_recent) > self.max_labels:
            self._joined_recent.popitem(last=False)
        return Outcome(event_id, version, prediction, label, label_ts, scores)

    def _expire_predictions(self) -> None:
        """Predictions older than the window before the latest label get no label."""
        horizon = self._label_clock - self.window_seconds
        while self._predictions:
            first = next(iter(self._predictions.values()))
            if first[2] >= horizon:
                break
            self._predictions.popitem(last=False)
            self.expired_predictions += 1

    def _expire_labels(self) -> None:
        """Labels older than the window before the latest prediction get no prediction."""
        horizon = self._prediction_clock - self.window_seconds
        while self._labels:
            first = next(iter(self._labels.values()))
            if first[1] >= horizon:
                break
            self._labels.popitem(last=False)
            self.unmatched_labels += 1

    def to_state(self) -> dict[str, Any]:
        return {
            "p": [[k, *v] for k, v in self._predictions.items()],
            "l": [[k, *v] for k, v in self._labels.items()],
            "j": list(self._joined_recent),
            "clocks": [None if c == float("-inf") else c
                       for c in (self._prediction_clock, self._label_clock)],
            "n": [self.joined, self.expired_predictions, self.unmatched_labels,
                  self.duplicate_labels],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        # Entries saved before scores were kept have four fields.
        self._predictions = OrderedDict(
            (str(e[0]), [e[1], e[2], float(e[3]), e[4] if len(e) > 4 else None])
            for e in state["p"])
        self._labels = OrderedDict((str(k), [lab, float(t)]) for k, lab, t in state["l"])
        self._joined_recent = OrderedDict((str(k), None) for k in state["j"])
        self._prediction_clock, self._label_clock = (
            float("-inf") if c is None else float(c) for c in state["clocks"]
        )
        counts = [int(v) for v in state["n"]]
        self.joined, self.expired_predictions, self.unmatched_labels, self.duplicate_labels = counts
