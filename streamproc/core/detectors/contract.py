"""The detector contract: what every detector of a monitor (built-in or River's) does.

A monitor turns its values into one kind of input (:mod:`.inputs`), computed once per
batch and shared by all of its detectors. Every detector has a registry name (the
``detector`` of its alerts), can be calibrated to a number of events between false
alarms, finds its first alarm in a batch, reports what it found, describes it in a few
words, and saves its state as plain data. Two flavours:

* a :class:`VectorDetector` scans a whole batch without changing its state, then
  advances by exactly as many items as the monitor tells it (the earliest alarm of
  any of its detectors wins, and every detector consumes exactly the items up to
  it): batch-at-a-time numpy, no Python loop per item;
* a :class:`SequentialDetector` (River's) takes one item at a time; the monitor
  steps all of them in lockstep, after the vector detectors have set the limit.

:func:`~streamproc.core.monitors.race` runs one monitor's detectors over a batch by
these rules.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..contracts import Tag

__all__ = ["Detector", "FitContext", "Report", "SequentialDetector", "VectorDetector"]


@dataclass
class FitContext:
    """Everything a detector may be fitted from when its monitor's reference is complete.

    ``reference`` holds what the monitor learnt, by input: for ``blocks`` the block
    statistics' sampling errors and in-control moments (``mean_se``, ``scale_se``,
    ``block_sd_mean``, ``block_sd_sd``, ``spread_mean_se``, ``spread_scale_se``) and
    ``n``; for ``flags`` the counts ``n``, ``ones``, ``singletons`` and ``factor``
    (the variance inflation of the flags' walk, 1 when independent); for ``shares``
    the ``block`` size and ``mean_se``. ``sample`` is the reference's own detector
    inputs (for calibration by replay) and ``spec`` a configured River detector.
    """

    settings: Any
    arl_events: float
    reference: dict[str, Any]
    sample: np.ndarray | None = None
    spec: Any = None


@dataclass(frozen=True)
class Report:
    """What a detector says about the change it found."""

    onset: Tag | None  # None: the detector does not estimate one (the alarm is its onset)
    direction: str
    severity: str
    current: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


class Detector(ABC):
    """Base of every detector. Subclasses register with :func:`~.registry.register`;
    ``tests/core/test_detector_contract.py`` runs over every registered one."""

    name: ClassVar[str]
    #: Which input the detector reads: "blocks", "flags" or "shares".
    input: ClassVar[str]
    #: Bumped when the detector's state layout or arithmetic changes: snapshots
    #: written by another version are refused (monitors re-learn).
    version: ClassVar[int] = 1
    sequential: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def fit(cls, ctx: FitContext) -> Detector | None:
        """A detector for a completed reference (None: nothing this detector can test)."""

    @abstractmethod
    def calibrate(self, arl_events: float) -> None:
        """Use ``arl_events`` events between false alarms on a stable stream."""

    @property
    @abstractmethod
    def drift_detected(self) -> bool:
        """Whether the last items consumed ended in an alarm."""

    @abstractmethod
    def restart(self) -> None:
        """Start afresh after a detection, keeping the design (no re-baselining)."""

    @abstractmethod
    def report(self, position: int, reference: dict[str, Any]) -> Report:
        """Onset (None: not estimated), direction, severity and current statistics of
        the alarm at event ``position``; ``reference`` is the monitor's reference."""

    @abstractmethod
    def to_state(self) -> Any:
        """The detector's state as plain data (JSON-able)."""

    @classmethod
    @abstractmethod
    def from_state(cls, state: Any) -> Detector:
        """The detector :meth:`to_state` saved (InvalidState if it is not usable)."""

    @property
    def score(self) -> float | None:
        """How close to alarming: statistic / threshold (1.0 alarms); None if unknown."""
        return None

    @property
    def recent_mean(self) -> float | None:
        """The recent mean of the input, in its units, where the detector tracks one
        (ADWIN's adaptive window); None otherwise."""
        return None

    def params(self) -> dict[str, Any]:
        """The parameters in force (for alert provenance)."""
        return {}

    @classmethod
    def describe(cls, statistics: dict[str, Any], direction: str) -> str:
        """The change in a few words, for an alert's summary (the one place this text
        is built: detections carry it, see :func:`~streamproc.core.monitors.make_detection`)."""
        return "changed"


class VectorDetector(Detector):
    """A detector that scans a whole batch, then advances by what the monitor says."""

    @abstractmethod
    def scan(self, inp: Any, limit: int) -> int:
        """Index of the first alarm among the first ``limit`` items, or -1 (no change)."""

    @abstractmethod
    def advance(self, inp: Any, n: int) -> None:
        """Consume the first ``n`` items (after a scan of at least ``n`` of them)."""


class SequentialDetector(Detector):
    """A detector that takes one item at a time (River's)."""

    sequential = True

    @abstractmethod
    def step(self, inp: Any, k: int) -> bool:
        """Consume item ``k``; True if it alarmed."""

    def run(self, inp: Any, items: int) -> int:
        """Consume items up to ``items`` (exclusive), stopping at the first alarm:
        its index, or -1. A detector may override it with a faster loop that steps
        exactly as :meth:`step` does."""
        for k in range(items):
            if self.step(inp, k):
                return k
        return -1
