"""The in-control behaviour of block means of expected correctness (the drop test's design).

Each prediction's expected correctness (its calibrated probability of being right, see
:class:`~.score_calibration.ClassCalibration`) is a skewed 0-1 quantity: most
predictions are nearly sure, a few are not. Block means of it are mapped to normal
scores through the reference's own bootstrap distribution of block means
(:func:`correctness_design`, :func:`correctness_scores`), so that the ``estimated_accuracy`` CUSUM
sees N(0, 1) increments on a stable stream whatever the model's score mix.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np

from ..errors import InvalidSetting

__all__ = ["MIN_DESIGN_BLOCKS", "correctness_design", "correctness_scores"]

# Block means of expected correctness are skewed (most predictions are nearly sure,
# a few are not): they are mapped to normal scores through the distribution of this
# many bootstrap blocks of the reference, kept as _KNOTS quantiles.
_BOOT_BLOCKS = 16_384
_KNOTS = 129
_Z = np.array([NormalDist().inv_cdf((i + 0.5) / _KNOTS) for i in range(_KNOTS)])
# Groups of this many blocks test the reference for dependence between blocks.
_GROUP = 8
# z of the one-sided test that block means are overdispersed (dependent): 3.7 is a
# 1e-4 false-positive rate, as in streamproc.core.stats.dependence.
_DISPERSION_Z = 3.7
# The reference must hold this many blocks: four groups of _GROUP for the dependence test.
MIN_DESIGN_BLOCKS = 4 * _GROUP


def _wilson_hilferty_z(ratio: float, dof: int) -> float:
    a = 2.0 / (9.0 * dof)
    return (ratio ** (1.0 / 3.0) - (1.0 - a)) / math.sqrt(a)


def correctness_design(c: np.ndarray, block: int, seed: int = 0) -> dict[str, Any]:
    """In-control behaviour of block means of expected correctness ``c`` (time order).

    Block means are turned into normal scores (:func:`correctness_scores`) through the
    quantiles of ``_BOOT_BLOCKS`` bootstrap blocks of the reference, so that the drop
    test's increments are N(0, 1) on a stable stream even though ``c`` is skewed.
    ``vif`` is the scores' variance inflation across blocks when means of ``_GROUP``
    consecutive reference blocks vary significantly more than independent blocks
    would (an autocorrelated stream); the scores are divided by its square root.
    ``scale`` is the block means' standard deviation (accuracy per unit of score),
    ``mean_se`` and ``scale_se`` the standard errors of the reference's centre (in
    score units) and of its log scale, which the threshold averages over.

    >>> rng = np.random.default_rng(2)
    >>> d = correctness_design(rng.beta(9, 1, 40_000), 32)
    >>> round(d["mean"], 3), round(d["vif"], 2), round(d["mean_se"], 4), len(d["knots"])
    (0.9, 1.0, 0.0283, 129)
    """
    j = len(c) // block
    if j < MIN_DESIGN_BLOCKS:
        raise InvalidSetting(f"the reference has {len(c)} predictions: the drop test needs at "
                             f"least {MIN_DESIGN_BLOCKS * block} ({MIN_DESIGN_BLOCKS} blocks "
                             f"of {block})")
    rng = np.random.default_rng(seed)
    boot = np.sort(c[rng.integers(0, len(c), (_BOOT_BLOCKS, block))].mean(axis=1))
    knots = np.quantile(boot, (np.arange(_KNOTS) + 0.5) / _KNOTS)
    design: dict[str, Any] = {"mean": float(np.mean(c)), "knots": knots.tolist(), "vif": 1.0}
    z = correctness_scores(c[: j * block].reshape(j, block).mean(axis=1), design)
    g = j // _GROUP
    gm = z[: g * _GROUP].reshape(g, _GROUP).mean(axis=1)
    ratio = float(np.var(gm, ddof=1)) * _GROUP / max(float(np.var(z, ddof=1)), 1e-300)
    vif = ratio if _wilson_hilferty_z(ratio, g - 1) > _DISPERSION_Z else 1.0
    if float(np.ptp(c)) <= 1e-9:  # constant expected correctness: the scores are rounding
        vif = 1.0
    design.update(vif=vif, blocks=float(j), scale=max(float(np.std(boot)), 1e-12),
                  mean_se=1.0 / math.sqrt(j), scale_se=math.sqrt(vif / (2.0 * j)))
    return design


def correctness_scores(means: np.ndarray, design: dict[str, Any]) -> np.ndarray:
    """Normal scores of block means (see :func:`correctness_design`), linear beyond the
    extreme knots (a fall far outside the reference stays large), over sqrt(vif)."""
    knots = np.asarray(design["knots"])
    z = np.interp(means, knots, _Z)
    lo_slope = (_Z[1] - _Z[0]) / max(knots[1] - knots[0], 1e-12)
    hi_slope = (_Z[-1] - _Z[-2]) / max(knots[-1] - knots[-2], 1e-12)
    z = np.where(means < knots[0], _Z[0] + (means - knots[0]) * lo_slope, z)
    z = np.where(means > knots[-1], _Z[-1] + (means - knots[-1]) * hi_slope, z)
    return z / math.sqrt(design["vif"])
