"""Joint drift (the joint monitor, its reference and likelihood ratios): exact outcomes
on seeded streams, in any batching, from any state; what an alert names.

The monitor contract (tests/core/test_monitor_contract.py) covers quiet, detection,
batch invariance and restore; these cover what is particular to joint drift.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from streamproc.core.calibration import joint_threshold
from streamproc.core.errors import InvalidSetting
from streamproc.core.monitors import D_MAX, JointMonitor, select_features
from streamproc.core.reference import JointReference
from streamproc.core.settings import MonitorSettings
from streamproc.core.stats import JointLikelihood

NAMES = ["a", "b", "c"]


def _equi(d: int, rho: float) -> np.ndarray:
    r = np.full((d, d), rho)
    np.fill_diagonal(r, 1.0)
    return r


def _stream(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    before = rng.multivariate_normal(np.zeros(3), _equi(3, 0.6), 9000)
    after = rng.multivariate_normal(np.zeros(3), np.eye(3), 1500)
    return np.vstack([before, after]) * [1.0, 30.0, 0.01] + [0.0, 500.0, -2.0]


STREAM = _stream()


def _monitor(reference_size: int = 5000, arl: float = 1e5, **kw) -> JointMonitor:
    mon = JointMonitor(MonitorSettings(reference_size=reference_size), NAMES, **kw)
    mon.calibrate(arl)
    return mon


def _feed(mon: JointMonitor, x: np.ndarray, start: int = 0) -> list[tuple]:
    pos = np.arange(start, start + len(x))
    return [(d.position, d.onset_position, tuple(d.statistics["pair"]))
            for d in mon.update(x, pos, pos * 1.0)]


def test_decoupling_is_detected_and_named() -> None:
    found = _feed(_monitor(), STREAM)
    assert found and 9000 <= found[0][0] < 9400
    assert len(found[0][2]) == 2


def test_state_after_learning_does_not_grow_with_the_reference() -> None:
    sizes = []
    for n in (4000, 8000):
        mon = _monitor(n)
        _feed(mon, STREAM[: n + 100])
        sizes.append(len(json.dumps(mon.to_state())))
    assert abs(sizes[0] - sizes[1]) < 100


def test_whitening_makes_an_ar1_stream_independent_and_white() -> None:
    rng = np.random.default_rng(3)
    e = rng.multivariate_normal(np.zeros(2), _equi(2, 0.9), 20_000)
    x = np.empty_like(e)
    x[0] = e[0]
    for t in range(1, len(e)):
        x[t] = 0.6 * x[t - 1] + 0.8 * e[t]
    ref = JointReference.fit(x[:10_000])
    assert ref.var is not None and np.allclose(ref.var, 0.6 * np.eye(2), atol=0.05)
    u, _ = ref.whiten(x[10_000:], ref.scores(x[9_999:10_000])[0])
    assert np.allclose(np.cov(u.T), np.eye(2), atol=0.05)
    lag = np.mean(u[1:] * u[:-1], axis=0)
    assert np.all(np.abs(lag) < 0.03)


def test_near_normal_features_are_standardised_linearly() -> None:
    rng = np.random.default_rng(6)
    x = rng.multivariate_normal([0, 0], _equi(2, 0.5), 5000)
    x[:, 1] = np.exp(x[:, 1])  # skewed: normal scores
    assert JointReference.fit(x).kinds == ["linear", "normal"]
    assert JointReference.fit(x, "normal").kinds == ["normal", "normal"]


def test_independent_reference_keeps_no_var_model() -> None:
    rng = np.random.default_rng(4)
    assert JointReference.fit(rng.normal(size=(5000, 4))).var is None


def test_threshold_keeps_the_budget_on_simulated_null_vectors() -> None:
    """False alarms of the CUSUM of W on N(0, I) vectors at a 2,000-event budget."""
    rng = np.random.default_rng(12)
    h = joint_threshold(2000, 3)
    w = JointLikelihood(3).feed(rng.normal(size=(100_000, 3)))
    s, alarms = 0.0, 0
    for x in w:
        s = max(0.0, s + x)
        if s > h:
            alarms, s = alarms + 1, 0.0
    assert 100_000 / 1.5 / 2000 <= alarms <= 100_000 / 0.7 / 2000  # 0.7-1.5x the budget


def test_large_flip_is_detected_within_a_few_events() -> None:
    rng = np.random.default_rng(5)
    x = np.vstack([rng.multivariate_normal([0, 0], _equi(2, 0.985), 6000),
                   rng.multivariate_normal([0, 0], _equi(2, -0.985), 100)])
    mon = JointMonitor(MonitorSettings(reference_size=5000), ["p", "q"])
    mon.calibrate(20_000)
    pos = np.arange(len(x))
    first = mon.update(x, pos, pos * 1.0)[0]
    assert first.position - 6000 <= 3
    stats = first.statistics
    assert stats["current_correlation"] < stats["reference_correlation"]
    assert stats["direction"]["p"] * stats["direction"]["q"] < 0  # along p - q
    assert stats["variance_ratio"] > 2


def test_select_features_caps_at_d_max_in_name_order() -> None:
    names = [f"f{i:02d}" for i in range(30, 0, -1)]
    chosen = select_features(names)
    assert len(chosen) == D_MAX == 16 and chosen[0] == "f01" and chosen[-1] == "f16"


def test_missing_values_are_skipped_and_counted() -> None:
    mon = _monitor(4000)
    x = STREAM[:5000].copy()
    x[10, 1] = np.nan
    x[20, 0] = np.inf
    _feed(mon, x)
    assert mon.skipped == 2 and not mon.learning and mon.observations == 5000


@pytest.mark.parametrize(("call", "message"), [
    (lambda: JointMonitor(MonitorSettings(), [f"f{i}" for i in range(17)]), "2 to 16 features"),
    (lambda: JointReference.fit(np.zeros((100, 3))), "needs two varying features"),
    (lambda: MonitorSettings(multivariate_marginals="rank"), "must be one of"),
])
def test_bad_inputs_say_what_to_fix(call, message: str) -> None:
    with pytest.raises(InvalidSetting, match=message):
        call()


def test_settings_marginals_agree_with_the_reference() -> None:
    from streamproc.core.reference import MARGINALS
    from streamproc.core.settings import _MARGINALS

    assert _MARGINALS == MARGINALS
