"""Normal scores: the fast inverse-CDF lookup is numpy's interpolation, bit for bit."""

from __future__ import annotations

import numpy as np

from streamproc.core.scores import _GRID_STEPS, _GRID_U, _GRID_Z, grid_z


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
