"""Normal scores: both fast lookups (the inverse CDF, the reference's knots) are numpy's
interpolation, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from streamproc.core.stats.normal_scores import (
    _GRID_STEPS,
    _GRID_U,
    _GRID_Z,
    KnotIndex,
    NormalScores,
    grid_z,
)


def test_grid_lookup_is_np_interp_bit_for_bit() -> None:
    rng = np.random.default_rng(17)
    u = np.concatenate([
        rng.uniform(0.0, 1.0, 1_000_000),
        rng.uniform(0.0, 1e-4, 10_000), 1.0 - rng.uniform(1e-12, 1e-4, 10_000),  # the tails
        _GRID_U[:-1],  # every knot itself
        np.nextafter(_GRID_U[1:], 0.0), np.nextafter(_GRID_U[:-1], 1.0),  # either side
    ])
    want = np.interp(u, _GRID_U, _GRID_Z)
    got = grid_z(u)
    assert np.array_equal(want.view(np.int64), got.view(np.int64))
    assert len(_GRID_U) == _GRID_STEPS + 1 and _GRID_U[1] * _GRID_STEPS == 1.0


def _reference_samples() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(23)
    return {
        "normal": rng.normal(40.0, 5.0, 2000),
        "uniform": rng.uniform(-1.0, 1.0, 2000),
        "exponential": rng.exponential(3.0, 2000),
        "bimodal": np.concatenate([rng.normal(0, 1, 1000), rng.normal(30, 1, 1000)]),
        "rounded": np.round(rng.normal(0.0, 1.0, 2000), 1),  # ties: fewer distinct knots
        "counts": rng.poisson(3.0, 2000).astype(float),
        "two values": rng.choice([0.0, 1.0], 2000),
        "tiny scale": rng.normal(1e-9, 1e-12, 2000),
        "large scale": rng.normal(0.0, 1e12, 2000),
        "lognormal": rng.lognormal(0.0, 1.0, 2000),
        "cauchy": rng.standard_cauchy(2000),
    }


@pytest.mark.parametrize("name", list(_reference_samples()))
def test_knot_index_is_np_interp_bit_for_bit(name: str) -> None:
    ns = NormalScores.fit(_reference_samples()[name])
    xp, fp = ns.xp, ns.fp
    index = KnotIndex.of(xp, fp)
    if index is None:  # a stretched grid keeps np.interp: nothing to compare
        assert name in ("lognormal", "cauchy")
        return
    rng = np.random.default_rng(29)
    lo, hi = float(xp[0]), float(xp[-1])
    pad = (hi - lo) * 0.2
    x = np.concatenate([
        rng.uniform(lo - pad, hi + pad, 200_000),
        rng.choice(xp, 5000),  # values that are knots (discrete features)
        xp, np.nextafter(xp, -np.inf), np.nextafter(xp, np.inf),  # either side of each
        [lo, hi, -np.inf, np.inf, np.nan, 0.0, -0.0],
    ])
    want = np.interp(x, xp, fp, left=ns._lo, right=ns._hi)
    got = index(x, ns._lo, ns._hi)
    assert np.array_equal(want, got, equal_nan=True)
    finite = ~np.isnan(want)
    assert np.array_equal(want[finite].view(np.int64), got[finite].view(np.int64))
    # and through NormalScores, which builds the index for its first batch of >= 64 values
    small, large = ns(x[:10]), ns(x[:1000])
    assert ns._index is not None
    assert np.array_equal(small, large[:10]) and np.array_equal(large, ns(x[:1000].copy()))


def test_knot_index_declines_a_grid_stretched_by_a_heavy_tail() -> None:
    rng = np.random.default_rng(31)
    ns = NormalScores.fit(rng.pareto(0.5, 2000))  # one value ~ millions, most below 10
    assert KnotIndex.of(ns.xp, ns.fp) is None
    x = rng.pareto(0.5, 1000)
    z = ns(x)
    assert ns._indexed and ns._index is None and np.isfinite(z).all()
