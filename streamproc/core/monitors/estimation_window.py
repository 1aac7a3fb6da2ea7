"""What the estimation monitor keeps of a classifier's recent predictions.

:class:`ScoreLayout` maps a prediction's class scores (a JSON object, class name to
score) onto arrays: one score per prediction for a binary model (the positive class's),
one row per prediction for a multiclass model; predictions and labels onto class
indices. :class:`Ring` is a bounded buffer of the last ``performance_window`` rows, the
only state of the window estimates (independent of the reference size).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InvalidState
from ..snapshot_arrays import pack, unpack
from ..stats import category_name

__all__ = ["Ring", "ScoreLayout", "extend_span", "finite", "layout_of", "truth_rows"]

# A two-class model's positive class, when one of its names says so; else the second
# name in sorted order (the 1 of 0/1, the true of false/true).
_POSITIVE = ("1", "true", "yes", "positive", "pos", "y")


class ScoreLayout:
    """Class names in score order and, for two classes, which one is positive.

    >>> lay = ScoreLayout.discover({"false": 0.3, "true": 0.7})
    >>> lay.classes, lay.positive, lay.binary
    (['false', 'true'], 'true', True)
    >>> s, pred, ok = lay.arrays([{"false": 0.3, "true": 0.7}, None], [True, False])
    >>> s.tolist(), pred.tolist(), ok.tolist()
    ([0.7], [1], [True, False])
    """

    def __init__(self, classes: list[str], positive: str | None) -> None:
        self.classes = classes
        self.positive = positive
        self._index = {c: i for i, c in enumerate(classes)}

    @classmethod
    def discover(cls, scores: dict[str, Any]) -> ScoreLayout:
        classes = sorted(str(k) for k in scores)
        if len(classes) != 2:
            return cls(classes, None)
        named = [c for c in classes if c.lower() in _POSITIVE]
        return cls(classes, named[0] if named else classes[1])

    @property
    def binary(self) -> bool:
        return self.positive is not None

    @property
    def width(self) -> tuple[int, ...]:
        return () if self.binary else (len(self.classes),)

    def index(self, value: Any) -> int:
        """A class value's index (binary: 1 for the positive class, else 0); -1 for a
        value that is none of the classes."""
        i = self._index.get(category_name(value), -1)
        if self.binary and i >= 0:
            return int(self.classes[i] == self.positive)
        return i

    def arrays(self, scores: Sequence[dict[str, Any] | None], predictions: Sequence[Any]
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Scores and predicted indices of the usable predictions, and which those are
        (scores for every class, finite; a prediction that is one of the classes)."""
        n = len(predictions)
        rows = np.full((n, len(self.classes)), np.nan)
        for r, s in enumerate(scores):
            if s:
                for name, v in s.items():
                    i = self._index.get(str(name))
                    if i is not None and isinstance(v, (int, float)) and not isinstance(v, bool):
                        rows[r, i] = float(v)
        pred = np.fromiter((self.index(p) for p in predictions), dtype=np.int64, count=n)
        ok = np.isfinite(rows).all(axis=1) & (pred >= 0)
        rows, pred = rows[ok], pred[ok]
        if self.binary:
            rows = rows[:, self.classes.index(str(self.positive))]
        return np.clip(rows, 0.0, 1.0) if self.binary else rows, pred, ok

    def to_state(self) -> list[Any]:
        return [self.classes, self.positive]

    @classmethod
    def from_state(cls, state: list[Any]) -> ScoreLayout:
        classes, positive = state
        return cls([str(c) for c in classes], None if positive is None else str(positive))


class Ring:
    """The last ``size`` rows of scores, predicted and (for labelled rows) true indices."""

    def __init__(self, size: int, width: tuple[int, ...], labelled: bool) -> None:
        self.size = int(size)
        self.width = width
        self.labelled = labelled
        self.scores = np.zeros((0, *width))
        self.pred = np.zeros(0, dtype=np.int64)
        self.truth = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.pred)

    def window(self, s: np.ndarray, pred: np.ndarray, truth: np.ndarray | None = None,
               end: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The window that ends at row ``end`` (exclusive) of a batch not pushed yet."""
        end = len(pred) if end is None else end
        w = self.size
        lo = max(0, end - w)
        t = self.truth if truth is None else np.concatenate([self.truth, truth[lo:end]])
        return (np.concatenate([self.scores, s[lo:end]])[-w:],
                np.concatenate([self.pred, pred[lo:end]])[-w:], t[-w:])

    def push(self, s: np.ndarray, pred: np.ndarray, truth: np.ndarray | None = None) -> None:
        self.scores, self.pred, self.truth = self.window(s, pred, truth)

    def to_state(self) -> list[Any]:
        return [self.size, pack(self.scores.ravel()), pack(self.pred, "<i8"),
                pack(self.truth, "<i8")]

    @classmethod
    def from_state(cls, state: list[Any], width: tuple[int, ...], labelled: bool) -> Ring:
        size, scores, pred, truth = state
        ring = cls(int(size), width, labelled)
        ring.scores = unpack(scores).reshape(-1, *width)
        ring.pred, ring.truth = unpack(pred, "<i8"), unpack(truth, "<i8")
        if len(ring.scores) != len(ring.pred) or len(ring.pred) > ring.size or (
                labelled and len(ring.truth) != len(ring.pred)):
            raise InvalidState("estimation window state: scores and predictions do not match")
        return ring


def finite(value: float) -> float | None:
    """A metric for JSON and gauges: None where undefined (no positive predicted...)."""
    return value if math.isfinite(value) else None


def extend_span(span: dict[str, Any], pos: np.ndarray, ts: np.ndarray,
                off: np.ndarray | None, a: int, b: int) -> None:
    """Add events ``a:b`` to a reference's span (first and last position, event time and
    source offset: what an alert says it was judged against)."""
    if b <= a:
        return
    if "first_position" not in span:
        span.update(first_position=int(pos[a]), first_event_time=float(ts[a]),
                    first_offset=-1 if off is None else int(off[a]))
    span.update(last_position=int(pos[b - 1]), last_event_time=float(ts[b - 1]),
                last_offset=-1 if off is None else int(off[b - 1]))


def layout_of(scores: Sequence[dict[str, Any] | None]) -> ScoreLayout | None:
    """The layout of the first prediction with two or more class scores (None: none yet)."""
    first = next((s for s in scores if s and len(s) >= 2), None)
    return None if first is None else ScoreLayout.discover(first)


def truth_rows(layout: ScoreLayout, labels: np.ndarray) -> np.ndarray:
    """Label rows as metric inputs: 0/1 (binary) or one-hot (multiclass), ``(1, n[, C])``."""
    if layout.binary:
        return labels.astype(np.float64)[None]
    return np.eye(len(layout.classes))[labels][None]
