"""All monitors of one input feature: its values and its data quality."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..contracts import Detection
from ..errors import InvalidSetting
from ..monitors import CategoricalMonitor, Monitor, NumericMonitor, RateMonitor, ValueMonitor
from ..settings import MonitorSettings
from ..stats import MAX_ABS_VALUE, category_name

__all__ = ["FeatureMonitor", "kind_of"]

_NUMERIC_TYPES = {float, int, type(None)}


def _floats(column: Sequence[Any]) -> np.ndarray | None:
    """The column as floats if numpy reads it as numbers only (no null, no string: a
    dtype of its own choice would be object or text); None otherwise."""
    try:
        arr = np.array(column)
    except (TypeError, ValueError, OverflowError):
        return None
    return arr.astype(np.float64) if arr.dtype.kind in "fi" else None


def kind_of(value: Any) -> str | None:
    """The monitor kind a first non-null value calls for.

    >>> kind_of(1.5), kind_of(True), kind_of("fr"), kind_of(None)
    ('numeric', 'categorical', 'categorical', None)
    """
    if value is None:
        return None
    if isinstance(value, (bool, str)):
        return "categorical"
    if isinstance(value, (int, float)):
        return "numeric"
    return None


class FeatureMonitor(Monitor):
    """Values (numeric or categorical), null rate and type changes of one feature.

    A value of the wrong type (a string in a numeric feature, a number in a
    categorical one) counts as a type mismatch, not as a value; ``None`` (or an
    absent key) counts as missing.

    Examples
    --------
    >>> settings = MonitorSettings(reference_size=100)
    >>> fm = FeatureMonitor(settings, "score", "numeric")
    >>> fm.calibrate(1e6)
    >>> col = [float(i % 7) for i in range(300)] + [None] * 60
    >>> pos = np.arange(len(col)); ts = pos * 1.0
    >>> [(d.detector, d.position, d.onset_position) for d in fm.update(col, pos, ts)]
    [('missing_rate', 319, 300)]
    """

    def __init__(
        self,
        settings: MonitorSettings,
        name: str,
        kind: str,
        signal: str = "feature",
        quality: bool = True,
        label: str | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.signal = signal
        self.quality = quality
        # Name reported in alerts: the feature, or None for a model's prediction itself.
        self.label = name if label is None and signal == "feature" else label
        if kind == "numeric":
            self.values: ValueMonitor = NumericMonitor(
                settings, signal, self.label
            )
        elif kind == "categorical":
            self.values = CategoricalMonitor(settings, signal, self.label)
        else:
            raise InvalidSetting(f"feature kind must be 'numeric' or 'categorical', got {kind!r}")
        self.missing = RateMonitor(settings, "data_quality", self.label, "missing_rate")
        self.type_mismatch = RateMonitor(
            settings, "data_quality", self.label, "type_mismatch_rate"
        )
        self.n_events = 0

    @property
    def n_detectors(self) -> int:
        return self.values.n_detectors + (2 if self.quality else 0)

    def calibrate(self, arl_events: float) -> None:
        self.values.calibrate(arl_events)
        self.missing.calibrate(arl_events)
        self.type_mismatch.calibrate(arl_events)

    @property
    def current_mean(self) -> float | None:
        return self.values.current_mean

    @property
    def reference_mean(self) -> float | None:
        return self.values.reference_mean

    @property
    def reference_sd(self) -> float | None:
        return self.values.reference_sd

    @property
    def learning(self) -> bool:
        return self.values.learning

    @property
    def stage(self) -> str:
        return self.values.stage

    @property
    def detectable_from(self) -> int | None:
        return self.values.detectable_from

    @property
    def dependence(self) -> float | None:
        return self.values.dependence

    @property
    def observations(self) -> int:
        """Events seen, with or without a usable value."""
        return self.n_events

    @property
    def detector_names(self) -> list[str]:
        names = list(self.values.detector_names)
        if self.quality:
            names += [self.missing.detector, self.type_mismatch.detector]
        return names

    def scores(self) -> dict[str, float]:
        """Detector name -> statistic / threshold (1.0 alarms), where a detector says."""
        out = dict(self.values.scores())
        if self.quality:
            out.update(self.missing.scores())
            out.update(self.type_mismatch.scores())
        return out

    def update(self, column: Sequence[Any], pos: np.ndarray, ts: np.ndarray,
               off: np.ndarray | None = None, plain: bool = False) -> list[Detection]:
        """Feed one value per event (``None`` when missing); return detections.

        ``off``: the events' source offsets (for the provenance of references);
        ``plain``: the values are known not to be booleans (see InputEvent.plain)."""
        n = len(column)
        self.n_events += n
        x = _floats(column) if plain and self.kind == "numeric" else None
        types = set() if x is not None else set(map(type, column))
        if self.kind == "numeric":
            if x is not None:
                mismatch = None
            elif types <= _NUMERIC_TYPES:
                x = np.array(column, dtype=np.float64)
                mismatch = None
            else:
                mismatch = np.fromiter(
                    (type(v) not in _NUMERIC_TYPES for v in column), dtype=bool, count=n
                )
                x = np.array(
                    [v if type(v) in _NUMERIC_TYPES else None for v in column], dtype=np.float64
                )
            missing = np.isnan(x) if mismatch is None else np.isnan(x) & ~mismatch
            # Numbers too large for a double (inf) or beyond MAX_ABS_VALUE are not usable
            # values: they count as type mismatches.
            usable = np.abs(x) <= MAX_ABS_VALUE
            absurd = ~usable & ~np.isnan(x)
            if absurd.any():
                mismatch = absurd if mismatch is None else mismatch | absurd
        else:
            missing = np.fromiter((v is None for v in column), dtype=bool, count=n)
            if types <= {str, type(None)}:
                mismatch = None
            else:
                mismatch = np.fromiter(
                    (v is not None and not isinstance(v, (str, bool)) for v in column),
                    dtype=bool,
                    count=n,
                )
            usable = ~missing if mismatch is None else ~missing & ~mismatch
        out: list[Detection] = []
        if self.quality:
            out += self.missing.update(missing, pos, ts, off)
            out += self.type_mismatch.update(
                np.zeros(n, dtype=bool) if mismatch is None else mismatch, pos, ts, off
            )
        idx = None if usable.all() else np.flatnonzero(usable)
        vpos = pos if idx is None else pos[idx]
        vts = ts if idx is None else ts[idx]
        voff = off if idx is None or off is None else off[idx]
        if self.kind == "numeric":
            values = x if idx is None else x[idx]
            out += self.values.update(values, vpos, vts, voff)
        else:
            cats = (
                [category_name(v) for v in column]
                if idx is None
                else [category_name(column[k]) for k in idx.tolist()]
            )
            out += self.values.update(cats, vpos, vts, voff)
        out.sort(key=lambda d: d.position)
        return out

    def to_state(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "signal": self.signal,
            "quality": self.quality,
            "label": self.label,
            "values": self.values.to_state(),
            "missing": self.missing.to_state(),
            "type": self.type_mismatch.to_state(),
            "n": self.n_events,
        }

    @classmethod
    def from_state(cls, settings: MonitorSettings, state: dict[str, Any]) -> FeatureMonitor:
        label = state["label"]
        fm = cls(
            settings,
            str(state["name"]),
            str(state["kind"]),
            str(state["signal"]),
            bool(state["quality"]),
            None if label is None else str(label),
        )
        fm.values.load_state(state["values"])
        fm.missing.load_state(state["missing"])
        fm.type_mismatch.load_state(state["type"])
        fm.n_events = int(state["n"])
        return fm

