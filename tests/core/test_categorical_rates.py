"""Categorical, rate and feature monitors: exact outcomes on seeded streams."""

from __future__ import annotations

import json

import numpy as np

from streamproc.core.monitors.categorical import CategoricalMonitor
from streamproc.core.monitors.rate import RateMonitor
from streamproc.core.settings import MonitorSettings
from streamproc.core.stats.category_counts import OTHER
from streamproc.core.units.feature import FeatureMonitor

SETTINGS = MonitorSettings()


def _pos(n: int) -> tuple[np.ndarray, np.ndarray]:
    pos = np.arange(n)
    return pos, 1.7e9 + pos.astype(float)


def test_category_share_change_is_detected() -> None:
    rng = np.random.default_rng(2)
    x = (rng.choice(["fr", "de", "us"], 30_000, p=[0.5, 0.3, 0.2]).tolist()
         + rng.choice(["fr", "de", "us"], 10_000, p=[0.4, 0.3, 0.3]).tolist())
    mon = CategoricalMonitor(SETTINGS, "feature", "country")
    mon.calibrate(1e7)
    hits = mon.update(x, *_pos(len(x)))
    assert [(d.detector, d.position, d.onset_position) for d in hits] == [
        ("categorical", 30_799, 30_375)]
    shares = hits[0].statistics["current"]["shares"]
    assert shares["us"] > 0.25 and hits[0].statistics["total_variation"] > 0.05


def test_new_categories_are_detected_and_named() -> None:
    rng = np.random.default_rng(4)
    x = (rng.choice(["a", "b"], 5_000).tolist()
         + rng.choice(["a", "b", "brand-new"], 2_000, p=[0.45, 0.45, 0.1]).tolist())
    mon = CategoricalMonitor(SETTINGS, "feature", "plan")
    mon.calibrate(1e7)
    (hit,) = mon.update(x, *_pos(len(x)))
    assert hit.detector == "unseen_categories" and 5_000 <= hit.position < 5_300
    assert hit.statistics["examples"] == ["brand-new"]


def test_rare_categories_are_pooled_to_bound_memory() -> None:
    rng = np.random.default_rng(5)
    x = [f"user-{i}" for i in rng.integers(0, 100_000, 5_000)]
    mon = CategoricalMonitor(SETTINGS, "feature", "user")
    mon.calibrate(1e7)
    mon.update(x, *_pos(len(x)))
    assert mon.reference_shares == {OTHER: 1.0}
    assert len(json.dumps(mon.to_state())) < 200_000


def test_error_rate_rise_from_ten_to_twenty_percent() -> None:
    rng = np.random.default_rng(6)
    wrong = np.concatenate([rng.random(20_000) < 0.1, rng.random(10_000) < 0.2])
    mon = RateMonitor(SETTINGS, "performance", None, "error_rate")
    mon.calibrate(1e7)
    hits = mon.update(wrong, *_pos(len(wrong)))
    assert [(d.detector, d.position, d.onset_position) for d in hits] == [
        ("error_rate", 20_333, 19_936)]
    assert hits[0].statistics["reference"] == {"rate": 0.09575, "n": 4000, "design_rate": 0.09575,
                                                 "start_position": 0, "dependence": {"vif": 1.0}}


def test_feature_disappearing_and_changing_type() -> None:
    col: list = [float(i % 13) + 0.5 * (i % 7) for i in range(6_000)]
    col += [None] * 100 + ["oops"] * 100
    fm = FeatureMonitor(SETTINGS, "latency", "numeric")
    fm.calibrate(1e7)
    hits = fm.update(col, *_pos(len(col)))
    assert [(d.signal, d.detector, d.position) for d in hits] == [
        ("data_quality", "missing_rate", 6_023), ("data_quality", "type_mismatch_rate", 6_123)]


def test_monitor_states_round_trip_through_json() -> None:
    rng = np.random.default_rng(1)
    fm = FeatureMonitor(SETTINGS, "plan", "categorical")
    fm.calibrate(1e7)
    x = rng.choice(["a", "b", "c", None], 6_000, p=[0.5, 0.3, 0.15, 0.05]).tolist()
    fm.update(x, *_pos(6_000))
    back = FeatureMonitor.from_state(SETTINGS, json.loads(json.dumps(fm.to_state())))
    assert back.to_state() == json.loads(json.dumps(fm.to_state()))


def test_bursts_of_errors_are_not_a_rising_error_rate() -> None:
    # Errors in bursts at a stable 10% rate: a two-state Markov chain where an error
    # follows an error with probability 0.9 (lag-one autocorrelation 0.89, so counts
    # vary 17 times as much as independent flags'). The reference measures it.
    rng = np.random.default_rng(12)
    n, stay, p = 400_000, 0.9, 0.1
    start = p * (1 - stay) / (1 - p)  # P(error | no error) that keeps the rate at p
    u = rng.random(n)
    flags = np.zeros(n, dtype=bool)
    for t in range(1, n):
        flags[t] = u[t] < (stay if flags[t - 1] else start)
    mon = RateMonitor(SETTINGS, "performance", None, "error_rate")
    mon.calibrate(1e7)
    assert [d for d in mon.update(flags, *_pos(n)) if not d.suppressed] == []
    assert 12 < mon.vif < 25
