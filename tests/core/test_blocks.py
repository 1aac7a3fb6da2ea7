"""Block statistics: one series alone or stacked with others, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from streamproc.core.stats.block_moments import block_stats


@pytest.mark.parametrize("b", [2, 3, 8, 16, 17, 64, 100])
def test_stacked_series_give_each_series_own_statistics(b: int) -> None:
    # The numeric monitor cuts its whitened scores and its raw values into blocks in
    # one (2, n) pass; each row must come out exactly as it would alone, or the
    # detectors' exact integer statistics would depend on that layout.
    rng = np.random.default_rng(b)
    for _ in range(200):
        n = int(rng.integers(0, 40 * b))
        rows = rng.standard_normal((2, n)) * 10.0 ** rng.uniform(-3, 3, (2, 1))
        means, sds = block_stats(rows, 0.0, 1.0, b)
        for k in range(2):
            alone = block_stats(np.ascontiguousarray(rows[k]), 0.0, 1.0, b)
            assert np.array_equal(means[k], alone[0]) and np.array_equal(sds[k], alone[1])


def test_values_beyond_the_clip_do_not_overflow() -> None:
    means, sds = block_stats(np.array([1e300, -1e300, 0.0, 5.0]), 0.0, 1.0, 2)
    assert means.tolist() == [0.0, 2.5]
    assert np.isfinite(sds).all()
