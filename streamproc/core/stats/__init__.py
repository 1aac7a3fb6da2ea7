"""Pure statistics the monitors are built from: the leaves of the core.

Owns the normal-score sketch (:class:`NormalScores`), block moments, dependence
estimates (AR fits, variance inflation factors), declared seasons and the statistics of
category counts. Functions of arrays and plain data, with no monitor state; may import
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
from .normal_scores import NormalScores
from .season import MAX_BINS, MIN_BIN_EVENTS, MIN_BINS, Season, parse_duration

__all__ = [
    "ARFit",
    "block_scores",
    "block_sd_floor",
    "block_stats",
    "category_name",
    "count_dispersion",
    "dispersion",
    "DISPERSION_BLOCK",
    "fit_ar",
    "fit_ar_segments",
    "level_wander",
    "markov_vif",
    "MAX_ABS_VALUE",
    "MAX_BINS",
    "MAX_BLOCK",
    "MAX_EXTENSION",
    "MIN_BIN_EVENTS",
    "MIN_BINS",
    "NormalScores",
    "OTHER",
    "overdispersed",
    "P_MAX",
    "parse_duration",
    "Season",
    "seasonal_shares",
    "standardise_on_reference",
    "tracked_shares",
    "Z_CLIP",
]
