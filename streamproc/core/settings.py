"""Detection settings: one frozen object shared by every monitor of a model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .calibration import FalseAlarmBudget
from .season import Season

__all__ = ["MonitorSettings"]


@dataclass(frozen=True)
class MonitorSettings:
    """How monitors learn their reference and when they alarm.

    Parameters
    ----------
    reference_size
        Observations in a reference window: the first ones of a model version, and
        again after every detection (re-baselining).
    block_size
        Numeric observations are tested in blocks of this size; 16 makes block means
        close to normal for most feature distributions, and keeps the per-event cost
        a fraction of a Python call.
    target_shift
        Mean shift, in reference standard deviations, the Page-Hinkley test is tuned
        for (smaller and larger shifts are still detected).
    spread_target
        Variance ratio the spread test is tuned for (2.0: variance doubles or halves).
    adwin_clock
        ADWIN tests for a cut every this many blocks.
    budget
        The false-alarm budget, see :class:`FalseAlarmBudget`.
    cooldown_events
        After an alert, further detections of the same monitor within this many
        events of the model version are counted but not alerted.
    max_categories
        Categories tracked individually by a categorical monitor; rarer ones are
        pooled (bounded memory and alert size).
    min_category_share
        Categories below this reference share are pooled into "(other)".
    river_detectors
        River detectors added to the monitors they apply to
        (:class:`~streamproc.core.detectors.river.RiverSpec`).
    seasonality
        Declared cycle of every signal, in seconds of event time (None: none known;
        the monitors estimate short-range dependence themselves), see
        :mod:`streamproc.core.season`.
    feature_seasonality
        ``(feature, seconds)`` pairs: a declared cycle of one feature (or of
        ``prediction``), overriding ``seasonality``.
    season_bins
        Phase bins of a declared season (24: hours of a day).
    """

    reference_size: int = 2000
    block_size: int = 16
    target_shift: float = 0.5
    spread_target: float = 2.0
    adwin_clock: int = 4
    budget: FalseAlarmBudget = field(default_factory=FalseAlarmBudget)
    cooldown_events: int = 5000
    max_categories: int = 50
    min_category_share: float = 0.01
    river_detectors: tuple[Any, ...] = ()
    seasonality: float | None = None
    feature_seasonality: tuple[tuple[str, float], ...] = ()
    season_bins: int = 24

    def season_for(self, signal: str, feature: str | None) -> Season | None:
        """The declared season of a monitor (a feature's own, else the model's)."""
        name = feature if feature is not None else signal
        period = dict(self.feature_seasonality).get(name, self.seasonality)
        return None if period is None else Season(period, self.season_bins)

    def __post_init__(self) -> None:
        if self.reference_size < 4 * self.block_size:
            raise ValueError(
                f"reference_size must be at least 4 blocks ({4 * self.block_size}), "
                f"got {self.reference_size!r}"
            )
        if not 4 <= self.block_size <= 1024:
            raise ValueError(f"block_size must be between 4 and 1024, got {self.block_size!r}")
        if self.target_shift <= 0:
            raise ValueError(f"target_shift must be positive, got {self.target_shift!r}")
        if self.spread_target <= 1.0:
            raise ValueError(f"spread_target must exceed 1, got {self.spread_target!r}")
        if self.adwin_clock < 1:
            raise ValueError(f"adwin_clock must be >= 1, got {self.adwin_clock!r}")
        if self.cooldown_events < 0:
            raise ValueError(f"cooldown_events must be >= 0, got {self.cooldown_events!r}")
        if self.max_categories < 2:
            raise ValueError(f"max_categories must be >= 2, got {self.max_categories!r}")
        if not 0.0 < self.min_category_share < 0.5:
            raise ValueError(
                f"min_category_share must be in (0, 0.5), got {self.min_category_share!r}"
            )


@dataclass(frozen=True)
class DetectionConfig:
    """Everything the core needs besides the events: default and per-model settings.

    Parameters
    ----------
    default
        Monitor settings of every model without an override.
    per_model
        Model id to its own monitor settings (e.g. a different budget).
    tasks
        Model id to ``classification`` or ``regression`` (default: inferred from
        the first joined prediction and label).
    max_features
        Features monitored per model version; more are ignored and counted.
    max_versions
        Versions of a model monitored at once; the least recently seen is dropped.
    join_max_predictions, join_max_labels, join_window_seconds
        Bounds of the label join, per model (see :mod:`streamproc.core.join`).
    """

    default: MonitorSettings = field(default_factory=MonitorSettings)
    per_model: dict[str, MonitorSettings] = field(default_factory=dict)
    tasks: dict[str, str] = field(default_factory=dict)
    max_features: int = 1000
    max_versions: int = 3
    join_max_predictions: int = 20_000
    join_max_labels: int = 10_000
    join_window_seconds: float = 3600.0

    def __post_init__(self) -> None:
        if self.max_features < 1:
            raise ValueError(f"max_features must be >= 1, got {self.max_features!r}")
        if self.max_versions < 1:
            raise ValueError(f"max_versions must be >= 1, got {self.max_versions!r}")
        for model, task in self.tasks.items():
            if task not in ("auto", "classification", "regression"):
                raise ValueError(
                    f"task of model {model!r} must be classification or regression, got {task!r}"
                )

    def settings_for(self, model_id: str) -> MonitorSettings:
        return self.per_model.get(model_id, self.default)

    def task_for(self, model_id: str) -> str:
        return self.tasks.get(model_id, "auto")
