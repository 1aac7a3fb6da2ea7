"""Label-free estimation (the estimation monitor and its statistics): exact outcomes on
seeded streams, in any batching, from any state; intervals that cover; a calibration
check that sees a concept shift and keeps quiet on a calibrated stream.

The monitor contract (tests/core/test_monitor_contract.py) covers quiet, detection,
batch invariance and restore for the drop test; these cover what is particular to it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from streamproc.core.monitors import EstimationMonitor, ScoreLayout
from streamproc.core.settings import MonitorSettings
from streamproc.core.stats import ScoreCalibrator, binary_metrics, multiclass_metrics

SETTINGS = MonitorSettings(reference_size=20_000)
BINARY = ScoreLayout.discover({"0": 0.5, "1": 0.5})


def _reference(seed: int = 0, n: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    s = rng.beta(0.6, 0.6, n)
    return s, (rng.random(n) < s).astype(np.int64)


def _fitted(s: np.ndarray, y: np.ndarray, layout: ScoreLayout = BINARY,
            window: int = 2000, arl: float = 1e5) -> EstimationMonitor:
    """A monitor that learnt its calibration on (s, y): predictions first, then labels."""
    mon = EstimationMonitor(MonitorSettings(reference_size=len(y)), layout, window)
    mon.calibrate(arl)
    pred = (s >= 0.5).astype(np.int64) if s.ndim == 1 else s.argmax(axis=1)
    pos = np.arange(len(y))
    assert mon.update_predictions(s, pred, pos, pos * 1.0) == []
    assert mon.update_labelled(s, pred, y, pos, pos * 1.0) == []
    assert not mon.learning
    return mon


def _predict(mon: EstimationMonitor, s: np.ndarray, start: int) -> list:
    pred = (s >= 0.5).astype(np.int64) if s.ndim == 1 else s.argmax(axis=1)
    pos = np.arange(start, start + len(s))
    return mon.update_predictions(s, pred, pos, pos * 1.0)


def test_layout_maps_named_classes_and_skips_unusable_predictions() -> None:
    lay = ScoreLayout.discover({"fraud": 0.2, "ok": 0.8})
    assert (lay.classes, lay.positive) == (["fraud", "ok"], "ok")
    s, pred, ok = lay.arrays([{"fraud": 0.2, "ok": 0.8}, {"fraud": 0.9}, None,
                              {"fraud": 0.6, "ok": 0.4}], ["ok", "fraud", "ok", "cat"])
    assert s.tolist() == [0.8] and pred.tolist() == [1] and ok.tolist() == [
        True, False, False, False]
    multi = ScoreLayout.discover({"b": 0.1, "a": 0.3, "c": 0.6})
    assert not multi.binary and multi.index("c") == 2 and multi.index("z") == -1


def test_state_round_trip_through_json_continues_identically() -> None:
    s, y = _reference()
    rng = np.random.default_rng(11)
    stream = np.concatenate([rng.beta(0.6, 0.6, 12_000), rng.beta(1.5, 1.5, 4_000)])
    a = _fitted(s, y)
    whole = [(d.position, d.statistics["estimate"]) for d in _predict(a, stream, 20_000)]
    b = _fitted(s, y)
    early = _predict(b, stream[:12_010], 20_000)
    restored = EstimationMonitor.from_state(SETTINGS, json.loads(json.dumps(b.to_state())))
    after = [(d.position, d.statistics["estimate"])
             for d in _predict(restored, stream[12_010:], 32_010)]
    assert early == [] and after and after == whole
    assert json.dumps(restored.to_state()) == json.dumps(a.to_state())
    assert restored.estimates()["roc_auc"] == a.estimates()["roc_auc"]


def test_state_is_bounded_by_the_window_not_the_reference() -> None:
    sizes = []
    for n in (5_000, 40_000):
        mon = _fitted(*_reference(1, n))
        _predict(mon, np.random.default_rng(2).beta(0.6, 0.6, 3000), n)
        sizes.append(len(json.dumps(mon.to_state())))
        assert len(mon.window) == len(mon.labelled) == 2000
    assert abs(sizes[0] - sizes[1]) < 2000


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


def test_intervals_cover_the_realised_metric_on_calibrated_windows() -> None:
    mon = _fitted(*_reference())
    rng = np.random.default_rng(8)
    covered = {"accuracy": 0, "roc_auc": 0}
    for k in range(40):
        s = rng.beta(0.6, 0.6, 2000)
        y = (rng.random(2000) < s).astype(float)
        _predict(mon, s, 20_000 + 2000 * k)
        m = mon.estimates()
        real = binary_metrics(s, (s >= 0.5).astype(float), y[None])
        for name in covered:
            covered[name] += m[name].lower <= real[name][0] <= m[name].upper
    assert covered["accuracy"] >= 36 and covered["roc_auc"] >= 36  # 95% intervals


def test_multiclass_estimate_is_close_to_realised() -> None:
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(30_000, 3)) * 1.5
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = (rng.random(30_000)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    mon = _fitted(p[:20_000], y[:20_000], ScoreLayout.discover({"a": 0, "b": 0, "c": 0}))
    _predict(mon, p[25_000:27_000], 20_000)
    m = mon.estimates()
    real = multiclass_metrics(p[25_000:27_000], p[25_000:27_000].argmax(axis=1),
                              np.eye(3)[y[25_000:27_000]][None])
    for k in ("accuracy", "f1", "roc_auc"):
        assert m[k].lower <= real[k][0] <= m[k].upper
        assert abs(m[k].estimate - real[k][0]) < 0.02


def test_calibration_check_sees_concept_shift_and_not_a_calibrated_stream() -> None:
    mon = _fitted(*_reference())
    rng = np.random.default_rng(6)
    s = rng.beta(0.6, 0.6, 80_000)
    y = (rng.random(80_000) < s).astype(np.int64)
    # The relation of scores to truth weakens after 60,000 labels; the scores do not move.
    y[60_000:] = rng.random(20_000) < 0.5 + 0.5 * (s[60_000:] - 0.5)
    pred = (s >= 0.5).astype(np.int64)
    pos = np.arange(20_000, 100_000)
    found = mon.update_labelled(s, pred, y, pos, pos * 1.0)
    assert found and found[0].position >= 80_000 and found[0].detector == "calibration_check"
    assert (found[0].signal, found[0].feature, found[0].direction) == (
        "performance", None, "down")
    cur = found[0].statistics["current"]
    assert cur["accuracy"] < cur["expected_accuracy"]
    assert _predict(mon, s, 20_000) == []  # the estimate cannot see it: scores unchanged


def test_realised_metrics_are_those_of_the_last_labelled_window() -> None:
    s, y = _reference()
    mon = _fitted(s, y)
    real = binary_metrics(s[-2000:], (s[-2000:] >= 0.5).astype(float), y[-2000:][None])
    assert mon.realised()["accuracy"] == pytest.approx(float(real["accuracy"][0]))


def test_constant_scores_learn_and_stay_quiet() -> None:
    """A model that always says 0.7 (nothing to rank) is estimated, not alarmed on."""
    s = np.full(6000, 0.7)
    y = (np.random.default_rng(1).random(6000) < 0.7).astype(np.int64)
    mon = _fitted(s[:5000], y[:5000])
    assert _predict(mon, s, 5000) == []
    assert mon.estimates()["accuracy"].estimate == pytest.approx(0.7, abs=0.03)
