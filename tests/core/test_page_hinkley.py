"""Two-sided Page-Hinkley test on standardised input."""

from __future__ import annotations

import json
import random

import pytest

from streamproc.core.calibration import cusum_threshold
from streamproc.core.page_hinkley import PageHinkley


def test_detects_a_downward_shift_with_its_onset() -> None:
    rng = random.Random(11)
    ph = PageHinkley(allowance=0.5, threshold=cusum_threshold(10_000.0, 0.5))
    stream = [rng.gauss(0, 1) for _ in range(3000)] + [rng.gauss(-1, 1) for _ in range(200)]
    hits = [(i, ph.detected_direction, ph.onset_tag) for i, y in enumerate(stream)
            if ph.update(y, tag=i).drift_detected]
    assert hits[0] == (3007, "down", 3000)


def test_one_sided_ignores_the_other_direction() -> None:
    ph = PageHinkley(allowance=0.5, threshold=5.0, direction="up")
    assert not any(ph.update(-3.0).drift_detected for _ in range(1000))


def test_quiet_on_a_stable_stream_with_a_calibrated_threshold() -> None:
    rng = random.Random(5)
    ph = PageHinkley(allowance=0.5, threshold=cusum_threshold(1e6, 0.5))
    assert sum(ph.update(rng.gauss(0, 1)).drift_detected for _ in range(100_000)) == 0


def test_aux_is_averaged_over_the_excursion() -> None:
    ph = PageHinkley(allowance=0.5, threshold=4.0)
    for _ in range(10):
        ph.update(0.0, aux=100.0)
    for k in range(3):
        ph.update(2.0, tag=k, aux=7.0)
    assert ph.drift_detected and ph.onset_tag == 0 and ph.aux_mean == 7.0 and ph.shift == 2.0


def test_state_round_trip() -> None:
    rng = random.Random(2)
    a = PageHinkley(0.25, 8.0)
    for i in range(500):
        a.update(rng.gauss(0.1, 1), tag=[i, float(i)])
    b = PageHinkley.from_state(json.loads(json.dumps(a.to_state())))
    for _ in range(500):
        y = rng.gauss(0.2, 1)
        assert a.update(y).drift_detected == b.update(y).drift_detected
    assert a.to_state() == b.to_state()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"allowance": 0}, "allowance must be positive, got 0"),
     ({"threshold": -1}, "threshold must be positive, got -1"),
     ({"direction": "sideways"}, "direction must be one of")],
)
def test_rejects_bad_parameters(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PageHinkley(**kwargs)
