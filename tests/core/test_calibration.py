"""Thresholds from budgets: checked against simulation, not only against formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from streamproc.core.calibration.budget import FalseAlarmBudget
from streamproc.core.calibration.thresholds import (
    bernoulli_threshold,
    cusum_arl,
    cusum_threshold,
    range_rate_bound,
    wilson_upper,
)


def _run_lengths(k: float, h: float, runs: int, seed: int) -> np.ndarray:
    """Simulated run lengths of a one-sided CUSUM on N(0, 1), many chains at once."""
    rng = np.random.default_rng(seed)
    s = np.zeros(runs)
    length = np.zeros(runs, dtype=np.int64)
    alive = np.ones(runs, dtype=bool)
    t = 0
    while alive.any():
        t += 1
        s[alive] = np.maximum(0.0, s[alive] + rng.normal(size=alive.sum()) - k)
        done = alive & (s > h)
        length[done] = t
        alive &= ~done
    return length


def test_siegmund_threshold_gives_the_requested_run_length() -> None:
    h = cusum_threshold(500.0, 0.5, sides=1)
    mean_run = _run_lengths(0.5, h, 2000, seed=1).mean()
    assert 440 < mean_run < 560  # 500 within the simulation's ~2.5% standard error x4


def test_two_sided_threshold_halves_each_side() -> None:
    h2 = cusum_threshold(1000.0, 1.0, sides=2)
    assert math.isclose(cusum_arl(h2, 1.0), 2000.0, rel_tol=0.02)


def test_reference_error_raises_the_threshold() -> None:
    base = cusum_threshold(1e5, 1.0)
    assert cusum_threshold(1e5, 1.0, mean_se=0.1) > base
    assert cusum_threshold(1e5, 1.0, scale_se=0.05) > base


def test_bernoulli_threshold_is_lordens_bound() -> None:
    assert bernoulli_threshold(math.e**10) == pytest.approx(10.0)


def test_model_budget_is_split_over_all_detectors() -> None:
    budget = FalseAlarmBudget(100_000)
    assert budget.detector_events(48, 6, "features") == 6_000_000
    assert budget.detector_events(4, 4, "predictions") == 4_000_000
    # Rates add up to the budget: 48 feature detectors (80%) + 4 prediction ones (10%)
    # + 1 performance detector (10%).
    rate = (48 / budget.detector_events(48, 6, "features")
            + 4 / budget.detector_events(4, 4, "predictions")
            + 1 / budget.detector_events(1, 1, "performance"))
    assert rate == pytest.approx(1 / 100_000)
    assert FalseAlarmBudget(100_000, "monitor").detector_events(50, 6) == 600_000


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"events": 5}, "at least 10 events, got 5"), ({"scope": "team"}, "'model' or 'monitor'")],
)
def test_budget_rejects_bad_values(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FalseAlarmBudget(**kwargs)


def test_rate_bounds_cover_sampling_error() -> None:
    rng = np.random.default_rng(9)
    p, n = 0.05, 2000
    estimates = rng.binomial(n, p, 100_000)
    covered = np.mean([wilson_upper(k, n) >= p for k in estimates[:20_000]])
    assert covered == 1.0
    # Out-of-range mass of a [min, max] range learnt from n values exceeds the bound
    # with probability ~1e-5: check on 20,000 references of 200 values.
    refs = rng.random((20_000, 200))
    outside = 1.0 - (refs.max(axis=1) - refs.min(axis=1))
    assert np.mean(outside > range_rate_bound(200)) < 5e-4
