"""The ADWIN bucket mirror extended a batch at a time equals item-by-item inserts."""

from __future__ import annotations

import numpy as np
import pytest

from streamproc.core.detectors.adwin import _layout, _Mirror


def _copy(m: _Mirror) -> _Mirror:
    return _Mirror([[list(b) for b in level] for level in m.levels])


@pytest.mark.parametrize("seed", range(4))
def test_extend_is_bit_for_bit_the_inserts(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(200):
        n0, k = int(rng.integers(0, 2500)), int(rng.integers(0, 300))
        raws = rng.standard_normal(n0 + k) * 10.0 ** rng.uniform(-3, 3)
        tags = [(i, 0.25 * i) for i in range(n0 + k)]
        one = _Mirror()
        for i in range(n0):
            one.insert(tags[i], float(raws[i]))
        batch = _copy(one)
        for i in range(n0, n0 + k):
            one.insert(tags[i], float(raws[i]))
        batch.extend(tags[n0:], raws[n0:], k)
        assert batch.levels == one.levels  # tags and float sums exactly equal
        assert [len(level) for level in one.levels] == (_layout(n0 + k) or [0])


def test_extend_after_a_cut_falls_back_to_inserts() -> None:
    rng = np.random.default_rng(9)
    raws = rng.standard_normal(600)
    tags = [(i, float(i)) for i in range(600)]
    one = _Mirror()
    for i in range(500):
        one.insert(tags[i], float(raws[i]))
    one.cut_to(123)  # what a detection leaves: not a layout of inserts only
    batch = _copy(one)
    for i in range(500, 600):
        one.insert(tags[i], float(raws[i]))
    batch.extend(tags[500:], raws[500:], 100)
    assert batch.levels == one.levels
