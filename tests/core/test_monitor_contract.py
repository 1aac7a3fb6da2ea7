"""One contract, checked for every monitor (as test_detector_contract does for detectors).

Every concrete :class:`~streamproc.core.monitors.Monitor` must have a case here (a new
monitor fails until it gets one): it is quiet on a stable seeded stream, it detects a
change after it, its detections and state do not depend on how the stream is cut into
batches, its state survives a JSON round trip mid-stream, and its view is well formed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from streamproc.core.monitors import (
    CategoricalMonitor,
    EstimationMonitor,
    JointMonitor,
    Monitor,
    MonitorView,
    NumericMonitor,
    RateMonitor,
    ScoreLayout,
    ValueMonitor,
)
from streamproc.core.settings import MonitorSettings
from streamproc.core.units import FeatureMonitor

SETTINGS = MonitorSettings(reference_size=500)
STABLE, CHANGED = 6000, 3000


def _numeric(rng: np.random.Generator) -> tuple[list[Any], list[Any]]:
    return rng.normal(5, 2, STABLE).tolist(), rng.normal(7, 2, CHANGED).tolist()


def _categories(rng: np.random.Generator) -> tuple[list[Any], list[Any]]:
    return (rng.choice(["a", "b", "c"], STABLE, p=[0.5, 0.3, 0.2]).tolist(),
            rng.choice(["a", "b", "c"], CHANGED, p=[0.2, 0.3, 0.5]).tolist())


def _flags(rng: np.random.Generator) -> tuple[list[Any], list[Any]]:
    return (rng.random(STABLE) < 0.1).tolist(), (rng.random(CHANGED) < 0.3).tolist()


def _nulls(rng: np.random.Generator) -> tuple[list[Any], list[Any]]:
    stable = rng.normal(0, 1, STABLE).tolist()
    changed = [None if rng.random() < 0.3 else float(v) for v in rng.normal(0, 1, CHANGED)]
    return stable, changed


def _scored(rng: np.random.Generator) -> tuple[list[Any], list[Any]]:
    """(score, label) of a binary classifier whose scores move towards 0.5."""
    def rows(a: float, n: int) -> list[Any]:
        p = rng.beta(a, a, n)
        return np.stack([p, rng.random(n) < p], axis=1).tolist()

    return rows(0.6, STABLE), rows(1.5, CHANGED)


def _joint(rng: np.random.Generator) -> tuple[list[Any], list[Any]]:
    """Three features; the first two's correlation flips from 0.6 to -0.6."""
    def rows(r: float, n: int) -> list[Any]:
        cov = [[1.0, r, 0.0], [r, 1.0, 0.0], [0.0, 0.0, 1.0]]
        return rng.multivariate_normal([1.0, 2.0, 3.0], cov, n).tolist()

    return rows(0.6, STABLE), rows(-0.6, CHANGED)


class _Scored:
    """The estimation monitor fed predictions, then their labels, in rounds of 256
    positions (labels come after their predictions, however the stream is cut)."""

    @staticmethod
    def update(mon: EstimationMonitor, v: np.ndarray, pos: np.ndarray,
               ts: np.ndarray) -> list[Any]:
        out: list[Any] = []
        rounds = pos // 256
        for r in np.unique(rounds):
            k = rounds == r
            s, y = v[k, 0], v[k, 1].astype(np.int64)
            pred = (s >= 0.5).astype(np.int64)
            out += mon.update_predictions(s, pred, pos[k], ts[k])
            out += mon.update_labelled(s, pred, y, pos[k], ts[k])
        return out


LAYOUT = {"0": 0.5, "1": 0.5}

# class -> (make a calibrated monitor, the values it is fed, the stream, detectors that
# should fire on the change)
CASES: dict[type, tuple[Callable[[], Any], Callable[[list[Any]], Any], Callable[..., Any],
                        set[str]]] = {
    NumericMonitor: (lambda: NumericMonitor(SETTINGS, "feature", "x"),
                     lambda v: np.asarray(v, dtype=np.float64), _numeric, {"cusum", "adwin"}),
    CategoricalMonitor: (lambda: CategoricalMonitor(SETTINGS, "feature", "c"), list,
                         _categories, {"categorical"}),
    RateMonitor: (lambda: RateMonitor(SETTINGS, "performance", None, "error_rate"),
                  lambda v: np.asarray(v, dtype=bool), _flags, {"error_rate"}),
    FeatureMonitor: (lambda: FeatureMonitor(SETTINGS, "x", "numeric"), list, _nulls,
                     {"missing_rate"}),
    EstimationMonitor: (lambda: EstimationMonitor(SETTINGS, ScoreLayout.discover(LAYOUT), 500),
                        lambda v: np.asarray(v, dtype=np.float64).reshape(-1, 2), _scored,
                        {"estimated_accuracy", "calibration_check"}),
    JointMonitor: (lambda: JointMonitor(SETTINGS, ["a", "b", "c"]),
                   lambda v: np.asarray(v, dtype=np.float64).reshape(-1, 3), _joint,
                   {"joint_drift"}),
}


def _concrete(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        if not getattr(sub, "__abstractmethods__", None):
            out.append(sub)
        out += _concrete(sub)
    return out


def test_every_monitor_has_a_case() -> None:
    assert set(_concrete(Monitor)) == set(CASES)


def _feed(mon: Any, values: list[Any], cuts: list[int], start: int = 0) -> list[tuple]:
    convert = CASES[type(mon)][1]
    out = []
    bounds = [start, *[c for c in cuts if c > start], len(values)]
    for a, b in zip(bounds, bounds[1:], strict=False):
        pos = np.arange(a, b)
        ts = 1.7e9 + pos * 0.1
        v = convert(values[a:b])
        dets = (_Scored.update(mon, v, pos, ts) if isinstance(mon, EstimationMonitor)
                else mon.update(v, pos, ts))
        out += [(d.detector, d.position, d.onset_position, d.description) for d in dets]
    return out


def _state(mon: Any) -> str:
    return json.dumps(mon.to_state(), sort_keys=True)


def _restore(mon: Any) -> Any:
    state = json.loads(_state(mon))
    if isinstance(mon, (FeatureMonitor, EstimationMonitor, JointMonitor)):
        return type(mon).from_state(SETTINGS, state)
    fresh = CASES[type(mon)][0]()
    fresh.load_state(state)
    return fresh


@pytest.mark.parametrize("cls", list(CASES), ids=lambda c: c.__name__)
def test_monitor_contract(cls: type) -> None:
    make, _, stream, fires = CASES[cls]

    def calibrated() -> Any:
        mon = make()
        mon.calibrate(1e6)
        return mon

    stable, changed = stream(np.random.default_rng(sum(map(ord, cls.__name__))))
    values = stable + changed
    assert isinstance(calibrated(), Monitor)
    if issubclass(cls, ValueMonitor):
        assert calibrated().learning

    quiet = calibrated()
    assert _feed(quiet, stable, []) == []
    assert not quiet.learning and quiet.observations == STABLE

    whole = calibrated()
    found = _feed(whole, values, [])
    assert found and found[0][1] >= STABLE and found[0][0] in fires
    assert all(isinstance(text, str) and text for *_, text in found)

    cuts = sorted(np.random.default_rng(3).integers(1, len(values), 30).tolist())
    pieces = calibrated()
    assert _feed(pieces, values, cuts) == found
    assert _state(pieces) == _state(whole)

    middle = STABLE + (found[0][1] - STABLE) // 2
    before = calibrated()
    early = _feed(before, values[:middle], [])
    restored = _restore(before)
    assert early + _feed(restored, values, [], start=middle) == found
    assert _state(restored) == _state(whole)

    view = whole.view("feature", "x")
    assert isinstance(view, MonitorView) and view.observations == len(values)
    assert set(view.scores) <= set(whole.detector_names)
    assert all(v >= 0 for v in view.scores.values())
    assert whole.n_detectors >= 1 and (whole.dependence or 1.0) >= 1.0
