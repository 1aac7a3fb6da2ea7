"""Detection settings as the config file and the environment give them: validated by
pydantic, with defaults and bounds from the core (:data:`streamproc.core.LIMITS`), and
turned into the core's :class:`~streamproc.core.MonitorSettings`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .core import LIMITS, FalseAlarmBudget, MonitorSettings, RiverSpec, parse_duration

__all__ = ["DetectionSettings", "DetectorSettings", "ModelOverride", "limit_field"]


def limit_field(name: str, override: bool = False) -> Any:
    """A pydantic field with the core's default, bounds and description of ``name``
    (:data:`streamproc.core.LIMITS`: one source for both); ``override``: unset by
    default (a per-model field that falls back to the global one)."""
    limit = LIMITS[name]
    return Field(None if override else limit.default, **limit.bounds(),
                 description=limit.doc)


def _check_durations(value: Any) -> Any:
    """A declared season (``1d``) or a mapping of them: each must parse as a duration."""
    texts = value.values() if isinstance(value, dict) else [value]
    for text in texts:
        if text is not None:
            parse_duration(text)
    return value


class DetectorSettings(BaseModel):
    """A River drift detector added to the monitors (see streamproc.core.detectors.river).

    ``river`` names the class under ``river`` (``drift.KSWIN``, ``drift.binary.DDM``);
    ``params`` are its constructor's; ``signals`` and ``features`` choose the monitors
    (numeric detectors go to numeric features, predictions and regression errors;
    binary ones to a classifier's errors); ``calibrate: true`` lets streamproc choose
    the detector's sensitivity parameter for the false-alarm budget.
    """

    model_config = ConfigDict(extra="forbid")

    river: str
    params: dict[str, Any] = Field(default_factory=dict)
    signals: list[Literal["feature", "prediction", "performance"]] = Field(
        default_factory=lambda: ["feature", "prediction", "performance"]
    )
    features: list[str] | None = None
    calibrate: bool = False

    def spec(self) -> RiverSpec:
        """The validated core spec; ValueError with one sentence if it cannot work."""
        spec = RiverSpec(
            river=self.river,
            params=tuple(sorted(self.params.items())),
            signals=frozenset(self.signals),
            features=None if self.features is None else frozenset(self.features),
            calibrate=self.calibrate,
        )
        spec.check()
        if spec.binary and "performance" not in self.signals:
            raise ValueError(f"{self.river} is a binary detector: it reads a classifier's "
                             "errors, so its signals must include performance")
        return spec


class DetectionSettings(BaseModel):
    """How monitors learn and alarm (see streamproc.core.settings.MonitorSettings)."""

    model_config = ConfigDict(extra="forbid")

    false_alarm_budget: float = limit_field("false_alarm_budget")
    budget_scope: Literal["model", "monitor"] = Field(
        "model", description="'model': the budget holds per model, split over its detectors."
    )
    reference_size: int = limit_field("reference_size")
    block_size: int = limit_field("block_size")
    target_shift: float = limit_field("target_shift")
    spread_target: float = limit_field("spread_target")
    adwin_clock: int = limit_field("adwin_clock")
    cooldown_events: int = limit_field("cooldown_events")
    max_categories: int = limit_field("max_categories")
    min_category_share: float = limit_field("min_category_share")
    detectors: list[DetectorSettings] = Field(
        default_factory=list, description="River detectors added to every model's monitors."
    )
    seasonality: str | None = Field(
        None, description="Declared cycle of every signal in event time, e.g. 1d (none: the "
        "monitors estimate short-range dependence themselves)."
    )
    feature_seasonality: dict[str, str] = Field(
        default_factory=dict, description="Declared cycle per feature (or 'prediction')."
    )
    season_bins: int = limit_field("season_bins")
    numeric_detectors: list[str] | None = Field(
        None, description="Built-in detectors of numeric monitors (default: cusum, adwin, "
        "spread, out_of_range; [] runs only the configured River detectors)."
    )

    estimation: bool = Field(
        True, description="Estimate a scored classifier's performance from its scores, alert "
        "when it falls (estimated_accuracy) and, where labels arrive, when the calibration "
        "no longer holds (calibration_check)."
    )
    performance_window: int = limit_field("performance_window")
    multivariate: bool = Field(
        False, description="Test the joint structure of a model's numeric features "
        "(joint_drift; the first 16 in name order). Off by default: it also alerts on a "
        "single feature's change, beside that feature's own alert."
    )
    multivariate_marginals: Literal["auto", "normal", "linear", "given"] = Field(
        "auto", description="How joint drift scores each feature: auto (linear when near "
        "normal, normal scores otherwise), normal, linear, or given (values are scores)."
    )

    @field_validator("numeric_detectors")
    @classmethod
    def _numeric_detectors(cls, value: list[str] | None) -> list[str] | None:
        from .core import DEFAULTS

        for name in value or []:
            if name not in DEFAULTS["numeric"]:
                raise ValueError(f"{name!r} is not a built-in numeric detector; choose from "
                                 + ", ".join(DEFAULTS["numeric"]))
        return value

    _seasons = field_validator("seasonality", "feature_seasonality")(_check_durations)

    def monitor_settings(self) -> MonitorSettings:
        return MonitorSettings(
            reference_size=self.reference_size,
            block_size=self.block_size if "block_size" in self.model_fields_set
            else min(self.block_size, max(4, self.reference_size // 4)),
            target_shift=self.target_shift,
            spread_target=self.spread_target,
            adwin_clock=self.adwin_clock,
            budget=FalseAlarmBudget(self.false_alarm_budget, self.budget_scope),
            cooldown_events=self.cooldown_events,
            max_categories=self.max_categories,
            min_category_share=self.min_category_share,
            river_detectors=tuple(d.spec() for d in self.detectors),
            seasonality=None if self.seasonality is None else parse_duration(self.seasonality),
            feature_seasonality=tuple(
                sorted((k, parse_duration(v)) for k, v in self.feature_seasonality.items())),
            season_bins=self.season_bins,
            numeric_detectors=None if self.numeric_detectors is None
            else tuple(self.numeric_detectors),
            estimation=self.estimation,
            performance_window=self.performance_window,
            multivariate=self.multivariate,
            multivariate_marginals=self.multivariate_marginals,
        )


class ModelOverride(BaseModel):
    """Per-model settings; unset fields take the global detection settings."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["auto", "classification", "regression"] = "auto"
    false_alarm_budget: float | None = limit_field("false_alarm_budget", override=True)
    budget_scope: Literal["model", "monitor"] | None = None
    reference_size: int | None = limit_field("reference_size", override=True)
    target_shift: float | None = limit_field("target_shift", override=True)
    detectors: list[DetectorSettings] | None = Field(
        None, description="River detectors of this model (replaces detection.detectors)."
    )
    seasonality: str | None = Field(None, description="Declared cycle of this model's signals.")
    feature_seasonality: dict[str, str] | None = Field(
        None, description="Declared cycle per feature of this model."
    )

    _seasons = field_validator("seasonality", "feature_seasonality")(_check_durations)
