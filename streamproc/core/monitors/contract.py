"""The monitor contract: what every monitor offers the model version that owns it.

A monitor watches one signal (a feature's values, its nulls, a prediction, an error
rate). Its model splits the false-alarm budget over its detectors
(:attr:`Monitor.n_detectors`, :meth:`Monitor.calibrate`) and metrics read its
:meth:`Monitor.view`. A :class:`ValueMonitor` is also fed values and saves its state;
:class:`~streamproc.core.units.FeatureMonitor` is a monitor made of three of them.
``tests/core/test_monitor_contract.py`` checks every implementation.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, NamedTuple

import numpy as np

from ..contracts import Detection

__all__ = ["Monitor", "MonitorView", "ValueMonitor"]


class MonitorView(NamedTuple):
    """What metrics show of one monitor."""

    signal: str
    name: str
    observations: int
    mean: float | None
    reference_mean: float | None
    reference_sd: float | None
    learning: bool  # still collecting its reference: not detecting yet (warm-up)
    scores: dict[str, float] = {}  # detector -> statistic / threshold (1.0 alarms)
    dependence: float | None = None  # the reference's variance inflation factor
    stage: str = "detecting"  # learning, provisional, refining or detecting
    detectable_from: int | None = None  # first position tested (None: none yet)


class Monitor(ABC):
    """The face of a monitor to its model: budget share, calibration, views."""

    @property
    @abstractmethod
    def detector_names(self) -> list[str]:
        """Names of the detectors this monitor runs now."""

    @property
    @abstractmethod
    def n_detectors(self) -> int:
        """The monitor's share of its group's budget, in detectors (fixed at discovery)."""

    @abstractmethod
    def calibrate(self, arl_events: float) -> None:
        """Give each detector ``arl_events`` events between false alarms."""

    @property
    @abstractmethod
    def learning(self) -> bool:
        """True while the monitor collects its reference: no detection yet."""

    @property
    @abstractmethod
    def dependence(self) -> float | None:
        """The reference's variance inflation factor (1: independent), once learnt."""

    @property
    @abstractmethod
    def observations(self) -> int:
        """Events absorbed."""

    @abstractmethod
    def scores(self) -> dict[str, float]:
        """Detector name -> statistic / threshold (1.0 alarms), where a detector says."""

    @abstractmethod
    def to_state(self) -> dict[str, Any]:
        """The monitor's state as plain data (JSON-able)."""

    @property
    def stage(self) -> str:
        """Where the monitor's reference stands: ``learning`` (no detection yet),
        ``provisional`` or ``refining`` (detecting against a reference still being
        learnt, see the README's "What it detects") or ``detecting``."""
        return "learning" if self.learning else "detecting"

    @property
    def detectable_from(self) -> int | None:
        """Position (in the model version's events) of the first value the monitor
        tested: before it, it was learning its first reference (None: still is)."""
        return getattr(self, "_detectable_from", None)

    @property
    def current_mean(self) -> float | None:
        """Recent level of the signal (a mean, or a rate), where it has one."""
        return None

    @property
    def reference_mean(self) -> float | None:
        return None

    @property
    def reference_sd(self) -> float | None:
        return None

    def view(self, signal: str, name: str) -> MonitorView:
        """What metrics show of this monitor, under ``signal`` and ``name``."""
        return MonitorView(signal, name, self.observations, self.current_mean,
                           self.reference_mean, self.reference_sd, self.learning,
                           self.scores(), self.dependence, self.stage, self.detectable_from)


class ValueMonitor(Monitor):
    """A monitor fed values of one signal (numbers, categories or 0/1 flags)."""

    signal: str
    feature: str | None

    @abstractmethod
    def update(self, values: Any, pos: np.ndarray, ts: np.ndarray,
               off: np.ndarray | None = None) -> list[Detection]:
        """Feed values with their event positions and times (and source offsets, for the
        provenance of references); return detections in position order."""

    @abstractmethod
    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`to_state` saved (InvalidState if it is not usable)."""
