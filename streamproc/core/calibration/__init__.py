"""The false-alarm budget and the thresholds that keep it: a leaf of the core.

Owns :class:`FalseAlarmBudget` (events between false alarms, and its split over a
model's signal groups and detectors) and the threshold solvers (Siegmund's CUSUM run
length averaged over the reference's sampling error, Bernoulli designs, ADWIN's
delta; the risk-adjusted calibration check's and the joint-drift CUSUM's thresholds).
May import only :mod:`streamproc.core.errors` of the core.
"""

from __future__ import annotations

from .budget import GROUP_SHARES, MIN_BUDGET_EVENTS, FalseAlarmBudget
from .joint_threshold import JOINT_RATE_CONSTANTS, joint_threshold
from .risk_adjusted import ODDS_RATIOS, check_increments, check_threshold, logit
from .thresholds import (
    adwin_delta,
    alternative_rate,
    bernoulli_design,
    bernoulli_threshold,
    cusum_arl,
    cusum_threshold,
    range_rate_bound,
    wilson_upper,
)

__all__ = [
    "adwin_delta",
    "alternative_rate",
    "bernoulli_design",
    "bernoulli_threshold",
    "check_increments",
    "check_threshold",
    "cusum_arl",
    "cusum_threshold",
    "FalseAlarmBudget",
    "GROUP_SHARES",
    "JOINT_RATE_CONSTANTS",
    "joint_threshold",
    "logit",
    "MIN_BUDGET_EVENTS",
    "ODDS_RATIOS",
    "range_rate_bound",
    "wilson_upper",
]
