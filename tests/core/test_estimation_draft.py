"""Label-free estimation: exact outcomes on seeded streams, in any batching, from any state."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from streamproc.core.estimation_draft import CalibrationCheck, PerformanceEstimator
from streamproc.core.estimation_draft.calibrator import ScoreCalibrator
from streamproc.core.estimation_draft.window import binary_metrics, multiclass_metrics


def _reference(seed: int = 0, n: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    s = rng.beta(0.6, 0.6, n)
    return s, (rng.random(n) < s).astype(int)


REF = _reference()
_rng = np.random.default_rng(11)
STREAM = np.concatenate([_rng.beta(0.6, 0.6, 12_000), _rng.beta(1.5, 1.5, 4_000)])


def _feed(est: PerformanceEstimator, x: np.ndarray, cuts: list[int]) -> list[tuple]:
    out, start = [], 0
    for end in [*cuts, len(x)]:
        out += [(a.position, a.onset_position, round(a.statistics["estimate"], 12))
                for a in est.update(x[start:end])]
        start = end
    return out


def test_drop_is_detected_at_the_same_event_in_any_batching() -> None:
    whole = PerformanceEstimator.fit(*REF, arl_events=1e5)
    expected = _feed(whole, STREAM, [])
    assert expected[0][:2] == (12_063, 11_744)
    for cuts in ([1, 31, 32, 33, 5000, 12_001], list(range(7, len(STREAM), 997))):
        est = PerformanceEstimator.fit(*REF, arl_events=1e5)
        assert _feed(est, STREAM, cuts) == expected
        assert est.to_state() == whole.to_state()


def test_state_round_trip_through_json_continues_identically() -> None:
    a = PerformanceEstimator.fit(*REF, arl_events=1e5)
    b = PerformanceEstimator.fit(*REF, arl_events=1e5)
    whole = _feed(a, STREAM, [])
    _feed(b, STREAM[:12_010], [])
    restored = PerformanceEstimator.from_state(json.loads(json.dumps(b.to_state())))
    after = _feed(restored, STREAM[12_010:], [])
    assert after and after == [w for w in whole if w[0] >= 12_010]
    assert restored.to_state() == a.to_state()
    assert restored.estimate()["roc_auc"] == a.estimate()["roc_auc"]


def test_state_is_bounded_by_the_window_not_the_reference() -> None:
    small = PerformanceEstimator.fit(*_reference(1, 5_000))
    large = PerformanceEstimator.fit(*_reference(1, 80_000))
    for est in (small, large):
        est.update(STREAM)
    sizes = [len(json.dumps(e.to_state())) for e in (small, large)]
    assert abs(sizes[0] - sizes[1]) < 200
    assert len(small._pred) == small.performance_window == 2000


def test_calibrator_is_monotone_compact_and_out_of_fold() -> None:
    rng = np.random.default_rng(5)
    s = rng.random(30_000)
    y = (rng.random(30_000) < s**3).astype(float)
    cal, oof = ScoreCalibrator.fit(s, y)
    assert len(cal.knots) <= 64 and np.all(np.diff(cal.rates) >= 0)
    assert np.all(np.diff(cal.replicates, axis=1) >= -1e-12)
    assert abs(float(oof.mean()) - float(y.mean())) < 0.005
    assert abs(float(cal(np.array([0.8]))[0]) - 0.8**3) < 0.03


def test_auc_formula_is_the_pair_count_with_ties_as_halves() -> None:
    rng = np.random.default_rng(2)
    s = np.round(rng.random(300), 1)  # many ties
    y = (rng.random(300) < s).astype(float)
    pos, neg = s[y == 1], s[y == 0]
    brute = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (
        len(pos) * len(neg))
    got = binary_metrics(s, (s >= 0.5).astype(float), y[None])["roc_auc"][0]
    assert got == pytest.approx(brute, abs=1e-12)


def test_expected_auc_matches_simulated_realised_auc() -> None:
    rng = np.random.default_rng(3)
    s = rng.beta(0.7, 0.7, 2000)
    sims = (rng.random((400, 2000)) < s).astype(float)
    pred = (s >= 0.5).astype(float)
    expected = binary_metrics(s, pred, s[None])
    realised = binary_metrics(s, pred, sims)
    for k in ("accuracy", "roc_auc", "f1"):
        assert expected[k][0] == pytest.approx(realised[k].mean(), abs=0.002)


def test_intervals_cover_the_realised_metric_on_calibrated_windows() -> None:
    est = PerformanceEstimator.fit(*REF, performance_window=2000)
    rng = np.random.default_rng(8)
    covered = {"accuracy": 0, "roc_auc": 0}
    for _ in range(40):
        s = rng.beta(0.6, 0.6, 2000)
        y = (rng.random(2000) < s).astype(float)
        est.update(s)
        m = est.estimate()
        real = binary_metrics(s, (s >= 0.5).astype(float), y[None])
        for k in covered:
            covered[k] += m[k].lower <= real[k][0] <= m[k].upper
    assert covered == {"accuracy": 40, "roc_auc": 37}


def test_multiclass_estimate_is_close_to_realised() -> None:
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(30_000, 3)) * 1.5
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = (rng.random(30_000)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    est = PerformanceEstimator.fit(p[:20_000], y[:20_000])
    est.update(p[20_000:])
    est.update(p[25_000:27_000])  # the window is the last 2,000: these
    m = est.estimate()
    real = multiclass_metrics(p[25_000:27_000], p[25_000:27_000].argmax(axis=1),
                              np.eye(3)[y[25_000:27_000]][None])
    for k in ("accuracy", "f1", "roc_auc"):
        assert m[k].lower <= real[k][0] <= m[k].upper
        assert abs(m[k].estimate - real[k][0]) < 0.02


def test_calibration_check_sees_concept_shift_and_not_a_calibrated_stream() -> None:
    est = PerformanceEstimator.fit(*REF)
    rng = np.random.default_rng(6)
    s = rng.beta(0.6, 0.6, 60_000)
    y = rng.random(60_000) < s
    chk = CalibrationCheck.fit(est, *REF, arl_events=1e5)
    assert chk.update(s, y) == []
    shifted = rng.random(20_000) < 0.5 + 0.5 * (s[:20_000] - 0.5)
    alerts = chk.update(s[:20_000], shifted)
    assert (alerts[0].position, alerts[0].direction) == (60_150, "down")


def test_calibration_check_is_batch_invariant() -> None:
    est = PerformanceEstimator.fit(*REF)
    rng = np.random.default_rng(9)
    s = rng.beta(0.6, 0.6, 20_000)
    y = np.where(np.arange(20_000) < 8_000, rng.random(20_000) < s,
                 rng.random(20_000) < 0.5 + 0.4 * (s - 0.5))
    results = []
    for cuts in ([], [3, 4000, 8001, 8002], list(range(13, 20_000, 1777))):
        chk = CalibrationCheck.fit(est, *REF)
        got, start = [], 0
        for end in [*cuts, 20_000]:
            got += [(a.position, a.onset_position, a.direction)
                    for a in chk.update(s[start:end], y[start:end])]
            start = end
        results.append((got, json.dumps(chk.to_state())))
    assert results[0][0] and all(r == results[0] for r in results)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: PerformanceEstimator.fit(np.ones((10, 2, 2)), np.ones(10)), "scores of shape"),
    (lambda: PerformanceEstimator.fit(np.array([0.5, np.nan] * 500), np.ones(1000)),
     "must be finite"),
    (lambda: PerformanceEstimator.fit(*_reference(0, 30)), "at least 50 labelled"),
    (lambda: PerformanceEstimator.fit(*REF, target_drop=2.0), "target_drop"),
])
def test_bad_inputs_say_what_to_fix(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_metric_table_names() -> None:
    est = PerformanceEstimator.fit(*REF)
    est.update(STREAM[:500])
    assert list(est.estimate()) == ["accuracy", "precision", "recall", "f1", "roc_auc"]
    assert list(itertools.islice(est.estimate()["f1"].as_dict(), 3)) == [
        "metric", "estimate", "lower"]
