"""ADWIN: same detections as River's ADWIN, plain-data state, onset estimate."""

from __future__ import annotations

import json
import random

import pytest
from river.drift import ADWIN as RiverADWIN

from streamproc.core.adwin import ADWIN


def _stream(seed: int, shift_at: int, shift: float, n: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(shift if i >= shift_at else 0.0, 1.0) for i in range(n)]


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_fires_at_the_same_indices_as_river(seed: int) -> None:
    stream = _stream(seed, 20_000, 0.3, 40_000)
    ours, river = ADWIN(), RiverADWIN()
    fired_ours, fired_river = [], []
    for i, x in enumerate(stream):
        if ours.update(x).drift_detected:
            fired_ours.append(i)
        river.update(x)
        if river.drift_detected:
            fired_river.append(i)
    assert fired_river, "the stream must contain a detectable change"
    assert fired_ours == fired_river


def test_state_round_trip_continues_identically() -> None:
    stream = _stream(7, 9_000, 0.5, 15_000)
    whole = ADWIN(clock=8)
    fired_whole = [i for i, x in enumerate(stream) if whole.update(x, tag=i).drift_detected]
    first = ADWIN(clock=8)
    for i, x in enumerate(stream[:6_000]):
        first.update(x, tag=i)
    restored = ADWIN.from_state(json.loads(json.dumps(first.to_state())))
    fired_split = [
        i for i, x in enumerate(stream[6_000:], start=6_000)
        if restored.update(x, tag=i).drift_detected
    ]
    assert fired_split == fired_whole == [9191]
    assert restored.to_state() == whole.to_state()


def test_cut_estimates_the_onset() -> None:
    rng = random.Random(3)
    adwin = ADWIN()
    stream = [rng.gauss(0, 1) for _ in range(5000)] + [rng.gauss(1, 1) for _ in range(2000)]
    hits = [(i, adwin.cut_position, adwin.cut_tag) for i, x in enumerate(stream)
            if adwin.update(x, tag=i).drift_detected]
    assert hits[0] == (5023, 4896, 4896)


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1])
def test_rejects_delta_outside_unit_interval(bad: float) -> None:
    with pytest.raises(ValueError, match=f"delta must be in \\(0, 1\\), got {bad!r}"):
        ADWIN(delta=bad)
