"""One contract, checked for every registered detector (streamproc's and River's).

Like River's own detector test suite, the same checks run over the whole registry,
so a new detector is covered the moment it registers: it is named in the alert
schema and the snapshot stamp, it is quiet on a stable seeded stream (when
calibrated), it fires after a change, its result does not depend on how the stream
is cut into batches, its state survives a JSON round trip mid-stream, and its
report, summary and parameters are well formed.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from streamproc.core.contracts.detection import SEVERITIES
from streamproc.core.contracts.schemas import schema
from streamproc.core.detectors.contract import FitContext
from streamproc.core.detectors.inputs import (
    Blocks,
    CorrectnessBlocks,
    Flags,
    LabelledItems,
    LikelihoodRatios,
    ShareBlocks,
    TagView,
)
from streamproc.core.detectors.registry import REGISTRY, algorithms_stamp, build
from streamproc.core.detectors.river.adapter import CALIBRATION, RiverDetector, RiverSpec
from streamproc.core.monitors.race import race
from streamproc.core.settings import MonitorSettings
from streamproc.core.stats import JointLikelihood

SETTINGS = MonitorSettings()
ARL = 1e6
STABLE, CHANGED = 3000, 3000
# A reference as the monitors build it (2,000 events, blocks of 16).
REFERENCE = {
    "blocks": {"n": 2000, "mean_se": math.sqrt(16 / 2000), "scale_se": 1 / math.sqrt(3998),
               "block_sd_mean": 0.97, "block_sd_sd": 0.18, "spread_mean_se": 1 / math.sqrt(125),
               "spread_scale_se": 1 / math.sqrt(248)},
    "flags": {"n": 2000, "ones": 100, "singletons": 100},
    "shares": {"n": 2000, "block": 50, "mean_se": 0.024, "names": ["a", "b", "c"],
               "shares": [0.5, 0.3, 0.2]},
    # A classifier's design: blocks of 32 expected correctness, 156 reference blocks.
    "correctness": {"mean": 0.9, "scale": 0.01, "mean_se": 1 / math.sqrt(156),
                    "scale_se": 1 / math.sqrt(312), "block_size": 32, "target_drop": 0.02},
    "labelled": {"sketch": np.quantile(np.random.default_rng(5).beta(9, 1, 5000),
                                       (np.arange(64) + 0.5) / 64).tolist(), "bias_se": 0.02},
    "likelihood": {"d": 2},
}
REPORT_REFERENCE = {"mean": 10.0, "sd": 2.0, "rate": 0.05, "unseen_rate": 0.05,
                    "names": ["a", "b", "c"], "shares": [0.5, 0.3, 0.2]}

CASES = [(name, False) for name in REGISTRY] + [
    ("river." + path, True) for path in CALIBRATION]


def _detector(name: str, calibrate: bool) -> Any:
    cls = REGISTRY[name]
    rng = np.random.default_rng(99)
    sample = (rng.normal(0.0, 0.25, 125) if cls.input == "blocks"
              else (rng.random(1000) < 0.05).astype(float))
    ctx = FitContext(SETTINGS, ARL, dict(REFERENCE[cls.input]), sample=sample)
    if issubclass(cls, RiverDetector):
        (det,) = build([], ctx, [RiverSpec(cls.river_path, calibrate=calibrate)])
    else:
        (det,) = build([name], ctx)
    return det


def _stream(kind: str, seed: int, rate: float) -> dict[str, np.ndarray]:
    """Items of one input kind: STABLE in control, then CHANGED after a large change
    (flags: ``rate`` before, 0.3 after)."""
    rng = np.random.default_rng(seed)
    n = STABLE + CHANGED
    after = np.arange(n) >= STABLE
    if kind == "blocks":
        z = rng.normal(0.0, 1.0, n) + 4.0 * after  # a 1 sd shift of blocks of 16
        spread = rng.normal(0.0, 1.0, n) + 4.0 * after
        return {"z": z, "mean": z / 4.0, "spread": spread, "raw_mean": z / 4.0,
                "raw_var": 1.0 + 0.1 * rng.random(n)}
    if kind == "flags":
        return {"x": rng.random(n) < np.where(after, 0.3, rate)}
    if kind == "correctness":  # block scores fall by 2 sd (accuracy by 0.02)
        z = rng.normal(0.0, 1.0, n) - 2.0 * after
        return {"z": z, "mean": 0.9 + 0.01 * z}
    if kind == "labelled":  # realised correctness falls 0.3 below the expected
        c = rng.beta(9, 1, n)
        return {"c": c, "x": (rng.random(n) < c - 0.3 * after).astype(float)}
    if kind == "likelihood":  # independent vectors, then correlated 0.9
        u = rng.normal(size=(n, 2))
        u[STABLE:] = u[STABLE:] @ np.array([[1.0, 0.9], [0.0, 0.44]])
        return {"w": JointLikelihood(2).feed(u)}
    counts = rng.multinomial(50, [0.5, 0.3, 0.2], n)
    return {"y": rng.normal(0.0, 1.0, n) + 4.0 * after, "counts": counts}


def _input(kind: str, data: dict[str, np.ndarray], a: int, b: int) -> Any:
    tags = [(k, float(k)) for k in range(a, b)]
    ends = np.arange(b - a)
    cut = {k: v[a:b] for k, v in data.items()}
    if kind == "blocks":
        return Blocks(tags=tags, ends=ends, **cut)
    pos = np.arange(a, b)
    if kind == "flags":
        return Flags(cut["x"], TagView(pos, pos.astype(float)))
    if kind == "correctness":
        return CorrectnessBlocks(cut["z"], cut["mean"], tags, ends)
    if kind == "labelled":
        return LabelledItems(cut["x"], cut["c"], TagView(pos, pos.astype(float)))
    if kind == "likelihood":
        return LikelihoodRatios(cut["w"], TagView(pos, pos.astype(float)))
    return ShareBlocks(cut["y"], cut["counts"], tags, ends)


def _run(det: Any, kind: str, data: dict[str, np.ndarray], cuts: list[int],
         start: int = 0) -> int | None:
    """Feed items from ``start`` in pieces; the index of the first alarm, or None."""
    bounds = [start, *[c for c in cuts if c > start], len(next(iter(data.values())))]
    for a, b in zip(bounds, bounds[1:], strict=False):
        hit = race([([det], _input(kind, data, a, b))], b - a)
        if hit is not None:
            return a + hit[0]
    return None


def _state(det: Any) -> str:
    return json.dumps(det.to_state(), sort_keys=True)


@pytest.mark.parametrize(("name", "calibrate"), CASES)
def test_detector_contract(name: str, calibrate: bool) -> None:
    cls = REGISTRY[name]
    assert name in schema("alert")["properties"]["detector"]["enum"]
    assert algorithms_stamp()[name] == cls.version
    kind = cls.input
    river = issubclass(cls, RiverDetector)
    river_raw = river and not calibrate
    # Built-in rate detectors are designed from the reference's counts (at most 0.7%
    # outside the range); River's replay the 5% errors of the reference sample.
    data = _stream(kind, seed=sum(map(ord, name)), rate=0.05 if river else 0.004)

    quiet = _detector(name, calibrate)
    stable = {k: v[:STABLE] for k, v in data.items()}
    if not river_raw:  # River at raw parameters is not calibrated: it may fire
        assert _run(quiet, kind, stable, []) is None

    whole = _detector(name, calibrate)
    first = _run(whole, kind, data, [STABLE] if river_raw else [])
    assert first is not None and (river_raw or first >= STABLE)
    cuts = sorted(np.random.default_rng(3).integers(1, len(data[next(iter(data))]), 40)
                  .tolist())
    pieces = _detector(name, calibrate)
    assert _run(pieces, kind, data, cuts) == first
    assert _state(pieces) == _state(whole)

    middle = (STABLE + first) // 2 if first > STABLE else first // 2
    before = _detector(name, calibrate)
    assert _run(before, kind, {k: v[:middle] for k, v in data.items()}, []) is None
    restored = cls.from_state(json.loads(_state(before)))
    assert _run(restored, kind, data, [], start=middle) == first
    assert _state(restored) == _state(whole)

    report = whole.report(first, REPORT_REFERENCE)
    assert report.direction in ("up", "down", "changed")
    assert report.severity in SEVERITIES
    assert report.onset is None or (isinstance(report.onset[0], int)
                                     and report.onset[0] <= first)
    text = cls.describe({"reference": REPORT_REFERENCE, "current": report.current,
                         **report.extra}, report.direction)
    assert isinstance(text, str) and text
    json.dumps(whole.params())
    score = quiet.score
    assert score is None or score >= 0.0


def test_schema_enum_is_the_registry() -> None:
    assert schema("alert")["properties"]["detector"]["enum"] == list(REGISTRY)


@pytest.mark.parametrize("blob", [b"", b"\x07 not River's bytes", b"\xff" * 2000])
def test_corrupt_river_state_is_refused_not_a_panic(blob: bytes) -> None:
    """River's Rust code panics (a BaseException) on bad state bytes; restoring turns
    that into the ValueError every bad snapshot raises."""
    import base64

    det = _detector("adwin", False)
    state = json.loads(_state(det))
    state["river"] = base64.b64encode(blob).decode()
    with pytest.raises(ValueError, match="adwin: River"):
        REGISTRY["adwin"].from_state(state)


@pytest.mark.parametrize(("name", "calibrate"), CASES)
def test_run_steps_exactly_as_step(name: str, calibrate: bool) -> None:
    """A sequential detector's one-loop ``run`` alarms at the same items and leaves
    the same state as stepping item by item, across alarms and the resets after."""
    cls = REGISTRY[name]
    if not cls.sequential:
        pytest.skip("not a sequential detector")
    data = _stream(cls.input, seed=7, rate=0.05)
    stepped, ran = _detector(name, calibrate), _detector(name, calibrate)
    alarms_run: list[int] = []
    n = len(next(iter(data.values())))
    inp = _input(cls.input, data, 0, n)
    alarms_step = [k for k in range(n) if stepped.step(inp, k)]
    at = 0
    while at < n:
        piece = _input(cls.input, data, at, n)
        k = ran.run(piece, n - at)
        if k < 0:
            break
        alarms_run.append(at + k)
        at += k + 1
    assert alarms_run == alarms_step and alarms_step
    assert _state(ran) == _state(stepped)
