"""Detection settings: one frozen object shared by every monitor of a model, and the
defaults and bounds of every setting (:data:`LIMITS`), which ``streamproc.config`` reads
to build its pydantic fields: one source for both."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .calibration import MIN_BUDGET_EVENTS, FalseAlarmBudget
from .errors import InvalidSetting
from .stats import MAX_BINS, MIN_BINS, Season

__all__ = ["LIMITS", "DetectionConfig", "Limit", "MonitorSettings"]


@dataclass(frozen=True)
class Limit:
    """A setting's default, its bounds (``ge``/``gt``/``le``/``lt``) and what it means."""

    default: Any
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    doc: str = ""

    def bounds(self) -> dict[str, float]:
        """The bounds that are set, by name (as pydantic's ``Field`` takes them)."""
        return {k: v for k in ("ge", "gt", "le", "lt") if (v := getattr(self, k)) is not None}

    def check(self, name: str, value: Any) -> None:
        """InvalidSetting naming the setting and its range if ``value`` is outside it.

        >>> LIMITS["min_category_share"].check("min_category_share", 0.7)
        Traceback (most recent call last):
        ...
        streamproc.core.errors.InvalidSetting: min_category_share must be in (0, 0.5), got 0.7
        """
        v = float(value)  # NaN fails every comparison below
        ok = ((self.ge is None or v >= self.ge) and (self.gt is None or v > self.gt)
              and (self.le is None or v <= self.le) and (self.lt is None or v < self.lt))
        if not ok:
            text = self.range_text()
            raise InvalidSetting(f"{name} must {'' if text.startswith('exceed') else 'be '}"
                                 f"{text}, got {value!r}")

    def range_text(self) -> str:
        low = self.ge if self.ge is not None else self.gt
        high = self.le if self.le is not None else self.lt
        if self.gt is not None and self.lt is not None:
            return f"in ({_num(self.gt)}, {_num(self.lt)})"
        if self.ge is not None and self.le is not None:
            return f"between {_num(self.ge)} and {_num(self.le)}"
        if self.gt == 0 and high is None:
            return "positive"
        if self.gt is not None and high is None:
            return f"exceed {_num(self.gt)}"
        if self.ge is not None and high is None:
            return f">= {_num(self.ge)}"
        return f"in [{low}, {high}]"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


# Defaults and bounds of every numeric detection and core setting. config.py builds its
# fields from these; MonitorSettings and DetectionConfig check them.
LIMITS: dict[str, Limit] = {
    "false_alarm_budget": Limit(100_000.0, ge=MIN_BUDGET_EVENTS,
                                doc="Expected events between false alarms on a stable stream."),
    # The reference must hold a few blocks (4 * block_size, checked below); 32 is that
    # floor with blocks of 8, which a reference below 64 gets unless block_size is set.
    "reference_size": Limit(2000, ge=32, doc="Observations in a reference window."),
    "block_size": Limit(16, ge=4, le=1024, doc="Numeric values are tested in blocks of this."),
    "target_shift": Limit(0.5, gt=0, doc="Mean shift (sd) the tests are tuned for."),
    "spread_target": Limit(2.0, gt=1, doc="Variance ratio the spread test is tuned for."),
    "adwin_clock": Limit(4, ge=1, doc="ADWIN tests for a cut every this many blocks."),
    "cooldown_events": Limit(5000, ge=0, doc="Detections of a monitor within this many events "
                             "of its alert are counted, not alerted (unless more severe)."),
    "max_categories": Limit(50, ge=2, doc="Categories tracked individually per monitor."),
    "min_category_share": Limit(0.01, gt=0, lt=0.5,
                                doc="Categories below this reference share are pooled."),
    "season_bins": Limit(24, ge=MIN_BINS, le=MAX_BINS, doc="Phase bins of a declared season."),
    # 2,000 predictions: the realised accuracy of a window this long has a sampling sd
    # of ~0.005 at 0.95 and ~0.008 at 0.85 (a change of a point or two is readable),
    # and a change still fills it within minutes at production rates.
    "performance_window": Limit(2000, ge=100, le=100_000, doc="Predictions over which a "
                                "scored classifier's performance is estimated."),
    "max_features": Limit(1000, ge=1, doc="Features monitored per model version."),
    "max_versions": Limit(3, ge=1, doc="Versions of a model monitored at once."),
    "join_max_predictions": Limit(20_000, ge=1, doc="Predictions waiting for a label, per model."),
    "join_max_labels": Limit(10_000, ge=1, doc="Labels waiting for a prediction, per model."),
    "join_window_seconds": Limit(3600.0, gt=0, doc="How long (event time) each side waits."),
    # 1,000 models of 10 numeric features past their references are ~0.5-1.2 GB of RSS
    # (README "Sizing max_models and memory"): a worker in a 2 GiB container.
    "max_models": Limit(1000, ge=1, doc="Models (not listed under `models`) a worker holds; "
                        "split evenly over the input partitions; events of further models "
                        "are dead-lettered (too_many_models)."),
    # A day: a model silent for a day of event time has most likely gone (a producer bug's
    # model ids, a retired model); list models that send less often under `models`.
    "model_idle_seconds": Limit(86400.0, ge=0, doc="A model (not listed) that sent nothing "
                                "for this long in event time is evicted: its state is "
                                "dropped and starts afresh if it returns (0: never)."),
}


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
        Mean shift, in reference standard deviations, the ``cusum`` test is tuned
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
        (:class:`~streamproc.core.detectors.RiverSpec`).
    seasonality
        Declared cycle of every signal, in seconds of event time (None: none known;
        the monitors estimate short-range dependence themselves), see
        :mod:`streamproc.core.stats.season`.
    feature_seasonality
        ``(feature, seconds)`` pairs: a declared cycle of one feature (or of
        ``prediction``), overriding ``seasonality``.
    season_bins
        Phase bins of a declared season (24: hours of a day).
    numeric_detectors
        The built-in detectors of numeric monitors (None: all of them, the default;
        ``()``: only the configured River detectors).
    estimation
        Estimate a scored classifier's performance from its scores, test its fall
        (``estimated_accuracy``) and, where labels arrive, its calibration
        (``calibration_check``); see :class:`~streamproc.core.monitors.EstimationMonitor`.
    performance_window
        Predictions over which estimated (and realised) performance is reported.
    multivariate
        Test the joint structure of a model's numeric features (``joint_drift``, at most
        16 features), see :class:`~streamproc.core.monitors.JointMonitor`. Off by
        default: a change of one feature's distribution moves the joint statistic too, so
        it alerts beside that feature's own monitor; turn it on where correlations matter.
    multivariate_marginals
        How the joint monitor scores each feature: ``auto`` (linear for near-normal
        features, normal scores otherwise), ``normal``, ``linear`` or ``given``.
    """

    reference_size: int = LIMITS["reference_size"].default
    block_size: int = LIMITS["block_size"].default
    target_shift: float = LIMITS["target_shift"].default
    spread_target: float = LIMITS["spread_target"].default
    adwin_clock: int = LIMITS["adwin_clock"].default
    budget: FalseAlarmBudget = field(default_factory=FalseAlarmBudget)
    cooldown_events: int = LIMITS["cooldown_events"].default
    max_categories: int = LIMITS["max_categories"].default
    min_category_share: float = LIMITS["min_category_share"].default
    river_detectors: tuple[Any, ...] = ()
    seasonality: float | None = None
    feature_seasonality: tuple[tuple[str, float], ...] = ()
    season_bins: int = LIMITS["season_bins"].default
    numeric_detectors: tuple[str, ...] | None = None
    estimation: bool = True
    performance_window: int = LIMITS["performance_window"].default
    multivariate: bool = False
    multivariate_marginals: str = "auto"

    def season_for(self, signal: str, feature: str | None) -> Season | None:
        """The declared season of a monitor (a feature's own, else the model's)."""
        name = feature if feature is not None else signal
        period = dict(self.feature_seasonality).get(name, self.seasonality)
        return None if period is None else Season(period, self.season_bins)

    def __post_init__(self) -> None:
        for name in _MONITOR_LIMITS:
            LIMITS[name].check(name, getattr(self, name))
        # Below a few blocks there is nothing to learn block statistics from.
        if self.reference_size < 4 * self.block_size:
            raise InvalidSetting(
                f"reference_size must be at least 4 blocks ({4 * self.block_size}), "
                f"got {self.reference_size!r}"
            )
        if self.multivariate_marginals not in _MARGINALS:
            raise InvalidSetting(f"multivariate_marginals must be one of "
                                 f"{', '.join(_MARGINALS)}, got {self.multivariate_marginals!r}")


# The joint monitor's marginal maps (streamproc.core.reference.MARGINALS; a test checks
# they agree: settings sit below the references).
_MARGINALS = ("auto", "normal", "linear", "given")
# Checked by MonitorSettings (and reference_size against the block size too).
_MONITOR_LIMITS = ("reference_size", "block_size", "target_shift", "spread_target", "adwin_clock",
                   "cooldown_events", "max_categories", "min_category_share", "season_bins",
                   "performance_window")


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
        Bounds of the label join, per model (see :mod:`streamproc.core.units.label_join`).
    max_models, model_idle_seconds, listed_models, partitions
        A worker holds at most ``max_models`` models besides the ``listed_models``: each
        of the ``partitions`` input partitions ``ceil(max_models / partitions)``; models
        idle for ``model_idle_seconds`` of event time are evicted (see
        :mod:`streamproc.core.units.places`).
    """

    default: MonitorSettings = field(default_factory=MonitorSettings)
    per_model: dict[str, MonitorSettings] = field(default_factory=dict)
    tasks: dict[str, str] = field(default_factory=dict)
    max_features: int = LIMITS["max_features"].default
    max_versions: int = LIMITS["max_versions"].default
    join_max_predictions: int = LIMITS["join_max_predictions"].default
    join_max_labels: int = LIMITS["join_max_labels"].default
    join_window_seconds: float = LIMITS["join_window_seconds"].default
    max_models: int = LIMITS["max_models"].default
    model_idle_seconds: float = LIMITS["model_idle_seconds"].default
    listed_models: frozenset[str] = frozenset()
    partitions: int = 1

    def __post_init__(self) -> None:
        if self.partitions < 1:
            raise InvalidSetting(f"partitions must be >= 1, got {self.partitions!r}")
        for name in ("max_features", "max_versions", "join_max_predictions", "join_max_labels",
                     "join_window_seconds", "max_models", "model_idle_seconds"):
            LIMITS[name].check(name, getattr(self, name))
        for model, task in self.tasks.items():
            if task not in ("auto", "classification", "regression"):
                raise InvalidSetting(
                    f"task of model {model!r} must be classification or regression, got {task!r}"
                )

    @property
    def places_per_partition(self) -> int:
        """Places for models not listed, per partition: the worker's ``max_models`` split
        evenly over the input partitions, rounded up.

        >>> DetectionConfig(max_models=1000, partitions=6).places_per_partition
        167
        """
        return -(-self.max_models // self.partitions)

    def settings_for(self, model_id: str) -> MonitorSettings:
        return self.per_model.get(model_id, self.default)

    def task_for(self, model_id: str) -> str:
        return self.tasks.get(model_id, "auto")
