"""Pure statistics the monitors are built from: the leaves of the core.

Owns the normal-score sketch (:class:`NormalScores`), block moments, dependence
estimates (AR fits, variance inflation factors), declared seasons and the statistics of
category counts; for a classifier's scores, the score calibration
(:class:`ClassCalibration`), window metrics with their intervals and the block design of
expected correctness; for joint drift, the EWMA likelihood ratios
(:class:`JointLikelihood`). Functions of arrays and plain data, with no monitor state; may import
only :mod:`streamproc.core.errors` and :mod:`streamproc.core.snapshot_arrays` of the
core.
"""

from __future__ import annotations

from .block_moments import MAX_ABS_VALUE, Z_CLIP, block_sd_floor, block_stats
from .category_counts import (
    DISPERSION_BLOCK,
    MAX_BLOCK,
    OTHER,
    block_scores,
    category_name,
    dispersion,
    seasonal_shares,
    standardise_on_reference,
    tracked_shares,
)
from .class_metrics import (
    METRICS,
    MetricEstimate,
    binary_metrics,
    multiclass_metrics,
    window_estimate,
)
from .correctness_blocks import MIN_DESIGN_BLOCKS, correctness_design, correctness_scores
from .dependence import (
    MAX_EXTENSION,
    P_MAX,
    ARFit,
    count_dispersion,
    fit_ar,
    fit_ar_segments,
    level_wander,
    markov_vif,
    overdispersed,
)
from .joint_likelihood import JointLikelihood
from .normal_scores import NormalScores
from .score_calibration import ClassCalibration, ScoreCalibrator, pav
from .season import MAX_BINS, MIN_BIN_EVENTS, MIN_BINS, Season, parse_duration

__all__ = [
    "ARFit",
    "binary_metrics",
    "block_scores",
    "block_sd_floor",
    "block_stats",
    "ClassCalibration",
    "category_name",
    "correctness_design",
    "correctness_scores",
    "count_dispersion",
    "dispersion",
    "DISPERSION_BLOCK",
    "fit_ar",
    "fit_ar_segments",
    "JointLikelihood",
    "level_wander",
    "markov_vif",
    "MAX_ABS_VALUE",
    "MAX_BINS",
    "MAX_BLOCK",
    "MAX_EXTENSION",
    "MetricEstimate",
    "METRICS",
    "MIN_DESIGN_BLOCKS",
    "MIN_BIN_EVENTS",
    "MIN_BINS",
    "multiclass_metrics",
    "NormalScores",
    "OTHER",
    "overdispersed",
    "pav",
    "P_MAX",
    "parse_duration",
    "ScoreCalibrator",
    "Season",
    "seasonal_shares",
    "standardise_on_reference",
    "tracked_shares",
    "window_estimate",
    "Z_CLIP",
]
