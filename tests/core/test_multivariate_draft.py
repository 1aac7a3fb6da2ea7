"""Joint-drift monitor: exact outcomes on seeded streams, in any batching, from any state."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from streamproc.core.multivariate_draft import (
    D_MAX,
    JointCusum,
    JointDriftMonitor,
    JointReference,
    select_features,
    threshold,
)


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
NAMES = ["a", "b", "c"]


def _feed(mon: JointDriftMonitor, x: np.ndarray, cuts: list[int]) -> list[tuple]:
    out, start = [], 0
    for end in [*cuts, len(x)]:
        out += [(a.position, a.onset_position, tuple(a.statistics["pair"]))
                for a in mon.update(x[start:end], np.arange(start, end))]
        start = end
    return out


def test_decoupling_is_detected_at_the_same_event_in_any_batching() -> None:
    whole = JointDriftMonitor(NAMES, reference_size=4000, arl_events=1e5)
    expected = _feed(whole, STREAM, [])
    assert expected[0] == (9027, 9008, ("b", "c"))
    assert all(p >= 9000 for p, _, _ in expected)
    for cuts in ([1, 3999, 4000, 4001, 9000], list(range(17, len(STREAM), 611))):
        mon = JointDriftMonitor(NAMES, reference_size=4000, arl_events=1e5)
        assert _feed(mon, STREAM, cuts) == expected
        assert json.dumps(mon.to_state()) == json.dumps(whole.to_state())


def test_state_round_trip_through_json_continues_identically() -> None:
    a = JointDriftMonitor(NAMES, reference_size=4000, arl_events=1e5)
    whole = _feed(a, STREAM, [])
    for cut in (2500, 9020):  # while learning, and inside the alarming excursion
        b = JointDriftMonitor(NAMES, reference_size=4000, arl_events=1e5)
        _feed(b, STREAM[:cut], [])
        restored = JointDriftMonitor.from_state(json.loads(json.dumps(b.to_state())))
        got = []
        for al in restored.update(STREAM[cut:], np.arange(cut, len(STREAM))):
            got.append((al.position, al.onset_position, tuple(al.statistics["pair"])))
        assert got == [w for w in whole if w[0] >= cut]
        assert json.dumps(restored.to_state()) == json.dumps(a.to_state())


def test_state_after_learning_does_not_grow_with_the_reference() -> None:
    sizes = []
    for n in (4000, 8000):
        mon = JointDriftMonitor(NAMES, reference_size=n, arl_events=1e5)
        mon.update(STREAM[: n + 100])
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
    u, _ = ref.whiten(x[10_000:], ref.scores(x[9_999:10_000])[0] + ref.centre)
    assert np.allclose(np.cov(u.T), np.eye(2), atol=0.05)
    lag = np.mean(u[1:] * u[:-1], axis=0)
    assert np.all(np.abs(lag) < 0.03)


def test_linear_marginals_round_trip_and_standardise() -> None:
    mon = JointDriftMonitor(NAMES, reference_size=4000, marginals="linear")
    mon.update(STREAM[:4500])
    restored = JointDriftMonitor.from_state(json.loads(json.dumps(mon.to_state())))
    assert restored.ref is not None and restored.ref.knots is None
    assert np.allclose(restored.ref.scale, [1.0, 30.0, 0.01], rtol=0.05)
    assert _feed(restored, STREAM[4500:], []) == _feed(mon, STREAM[4500:], [])


def test_independent_reference_keeps_no_var_model() -> None:
    rng = np.random.default_rng(4)
    assert JointReference.fit(rng.normal(size=(5000, 4))).var is None


def test_threshold_keeps_the_budget_on_simulated_null_vectors() -> None:
    """Events between false alarms of the CUSUM on N(0, I) at a 2,000-event budget."""
    rng = np.random.default_rng(12)
    cus = JointCusum(3, threshold(2000, 3))
    alarms = len(cus.feed(rng.normal(size=(100_000, 3))))
    assert alarms == 56  # 1,786 events between false alarms: 0.89 x the budget
    assert math.log(2000) > cus.threshold


def test_large_flip_is_detected_within_a_few_events() -> None:
    rng = np.random.default_rng(5)
    x = np.vstack([rng.multivariate_normal([0, 0], _equi(2, 0.985), 6000),
                   rng.multivariate_normal([0, 0], _equi(2, -0.985), 100)])
    mon = JointDriftMonitor(["p", "q"], reference_size=5000, arl_events=20_000)
    first = mon.update(x)[0]
    assert first.position - 6000 == 0  # the first event after the flip
    stats = first.statistics  # one event after the flip, the fast EWMA has moved a fifth
    assert stats["current_correlation"] < stats["reference_correlation"] == 0.985
    assert stats["direction"]["p"] * stats["direction"]["q"] < 0  # along p - q
    assert stats["variance_ratio"] > 2  # 0.8 + 0.2 u^2 along p - q after one event


def test_select_features_caps_at_d_max_in_name_order() -> None:
    names = [f"f{i:02d}" for i in range(30, 0, -1)]
    chosen = select_features(names)
    assert len(chosen) == D_MAX == 16 and chosen[0] == "f01" and chosen[-1] == "f16"


def test_missing_values_are_skipped_and_counted() -> None:
    mon = JointDriftMonitor(NAMES, reference_size=4000)
    x = STREAM[:5000].copy()
    x[10, 1] = np.nan
    x[20, 0] = np.inf
    mon.update(x)
    assert mon.skipped == 2 and not mon.learning


@pytest.mark.parametrize(("call", "message"), [
    (lambda: JointDriftMonitor([f"f{i}" for i in range(17)]), "1 to 16 features"),
    (lambda: JointDriftMonitor(NAMES).update(np.zeros((5, 2))), "rows of 3 values"),
    (lambda: JointReference.fit(np.zeros((100, 3))), "needs at least 500 events"),
    (lambda: JointDriftMonitor(NAMES, marginals="rank"), "marginals must be one of"),
    (lambda: JointReference.fit(np.repeat(np.arange(5.0), 200)[:, None]), "few distinct"),
])
def test_bad_inputs_say_what_to_fix(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
