"""What the estimator learns from the reference's labelled predictions.

:class:`Calibration` holds one :class:`~.calibrator.ScoreCalibrator` per class score
(one for a binary model's positive-class score) and turns scores into calibrated
probabilities (one-vs-rest, renormalised), expected correctness and the replicate
versions of both. :func:`block_design` is the in-control behaviour of block means of
expected correctness on the reference, from which the drop test is calibrated.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np

from .calibrator import ScoreCalibrator

__all__ = ["Calibration", "block_design", "block_scores"]

# Block means of expected correctness are skewed (most predictions are nearly sure,
# a few are not): they are mapped to normal scores through the distribution of this
# many bootstrap blocks of the reference, kept as _KNOTS quantiles.
_BOOT_BLOCKS = 16_384
_KNOTS = 129
_Z = np.array([NormalDist().inv_cdf((i + 0.5) / _KNOTS) for i in range(_KNOTS)])
# Groups of this many blocks test the reference for dependence between blocks.
_GROUP = 8
# z of the one-sided test that block means are overdispersed (dependent): 3.7 is a
# 1e-4 false-positive rate, as in streamproc.core.dependence.
_DISPERSION_Z = 3.7


class Calibration:
    """The calibrators of a model's class scores (binary: one, for the positive class)."""

    def __init__(self, calibrators: list[ScoreCalibrator]) -> None:
        self.calibrators = calibrators
        self.binary = len(calibrators) == 1

    @classmethod
    def fit(cls, scores: np.ndarray, labels: np.ndarray, seed: int = 0
            ) -> tuple[Calibration, np.ndarray]:
        """Calibrators and the reference's out-of-fold probabilities (same shape as
        ``scores``; multiclass rows renormalised)."""
        if scores.ndim == 1:
            cal, oof = ScoreCalibrator.fit(scores, labels, seed=seed)
            return cls([cal]), oof
        cals, oofs = [], []
        for c in range(scores.shape[1]):
            cal, oof = ScoreCalibrator.fit(scores[:, c], (labels == c).astype(np.float64),
                                           seed=seed + c)
            cals.append(cal)
            oofs.append(oof)
        return cls(cals), _normalise(np.stack(oofs, axis=1))

    @property
    def n_replicates(self) -> int:
        return len(self.calibrators[0].replicates)

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        if self.binary:
            return self.calibrators[0](scores)
        return _normalise(np.stack([c(scores[:, i]) for i, c in enumerate(self.calibrators)],
                                   axis=1))

    def replicated(self, scores: np.ndarray) -> np.ndarray:
        """``(R, n)`` binary or ``(R, n, C)`` multiclass probabilities."""
        if self.binary:
            return self.calibrators[0].replicated(scores)
        reps = np.stack([c.replicated(scores[:, i]) for i, c in enumerate(self.calibrators)],
                        axis=2)
        return reps / reps.sum(axis=2, keepdims=True)

    def correctness(self, p: np.ndarray, predicted: np.ndarray) -> np.ndarray:
        """Expected correctness of each prediction given its calibrated probabilities
        (works on replicate stacks too: the last axes are (n,) or (n, C))."""
        if self.binary:
            return np.where(predicted == 1, p, 1.0 - p)
        return np.take_along_axis(p, np.broadcast_to(predicted[..., None],
                                                     (*p.shape[:-1], 1)), axis=-1)[..., 0]

    def to_state(self) -> list[dict[str, Any]]:
        return [c.to_state() for c in self.calibrators]

    @classmethod
    def from_state(cls, state: list[dict[str, Any]]) -> Calibration:
        cals = [ScoreCalibrator.from_state(s) for s in state]
        if not cals or len({len(c.replicates) for c in cals}) != 1:
            raise ValueError("calibration state needs calibrators with equal replicates")
        return cls(cals)


def _normalise(p: np.ndarray) -> np.ndarray:
    return p / p.sum(axis=-1, keepdims=True)


def _wilson_hilferty_z(ratio: float, dof: int) -> float:
    a = 2.0 / (9.0 * dof)
    return (ratio ** (1.0 / 3.0) - (1.0 - a)) / math.sqrt(a)


def block_design(c: np.ndarray, block: int, seed: int = 0) -> dict[str, Any]:
    """In-control behaviour of block means of expected correctness ``c`` (time order).

    Block means are turned into normal scores (:func:`block_scores`) through the
    quantiles of ``_BOOT_BLOCKS`` bootstrap blocks of the reference, so that the drop
    test's increments are N(0, 1) on a stable stream even though ``c`` is skewed.
    ``vif`` is the scores' variance inflation across blocks when means of ``_GROUP``
    consecutive reference blocks vary significantly more than independent blocks
    would (an autocorrelated stream); the scores are divided by its square root.
    ``scale`` is the block means' standard deviation (accuracy per unit of score),
    ``mean_se`` and ``scale_se`` the standard errors of the reference's centre (in
    score units) and of its log scale, which the threshold averages over.

    >>> rng = np.random.default_rng(2)
    >>> d = block_design(rng.beta(9, 1, 40_000), 32)
    >>> round(d["mean"], 3), round(d["vif"], 2), round(d["mean_se"], 4), len(d["knots"])
    (0.9, 1.0, 0.0283, 129)
    """
    j = len(c) // block
    if j < 4 * _GROUP:
        raise ValueError(f"the reference has {len(c)} predictions: the drop test needs at "
                         f"least {4 * _GROUP * block} ({4 * _GROUP} blocks of {block})")
    rng = np.random.default_rng(seed)
    boot = np.sort(c[rng.integers(0, len(c), (_BOOT_BLOCKS, block))].mean(axis=1))
    knots = np.quantile(boot, (np.arange(_KNOTS) + 0.5) / _KNOTS)
    design: dict[str, Any] = {"mean": float(np.mean(c)), "knots": knots.tolist(), "vif": 1.0}
    z = block_scores(c[: j * block].reshape(j, block).mean(axis=1), design)
    g = j // _GROUP
    gm = z[: g * _GROUP].reshape(g, _GROUP).mean(axis=1)
    ratio = float(np.var(gm, ddof=1)) * _GROUP / max(float(np.var(z, ddof=1)), 1e-300)
    vif = ratio if _wilson_hilferty_z(ratio, g - 1) > _DISPERSION_Z else 1.0
    design.update(vif=vif, blocks=float(j), scale=max(float(np.std(boot)), 1e-12),
                  mean_se=1.0 / math.sqrt(j), scale_se=math.sqrt(vif / (2.0 * j)))
    return design


def block_scores(means: np.ndarray, design: dict[str, Any]) -> np.ndarray:
    """Normal scores of block means (see :func:`block_design`), linear beyond the
    extreme knots (a fall far outside the reference stays large), over sqrt(vif)."""
    knots = np.asarray(design["knots"])
    z = np.interp(means, knots, _Z)
    lo_slope = (_Z[1] - _Z[0]) / max(knots[1] - knots[0], 1e-12)
    hi_slope = (_Z[-1] - _Z[-2]) / max(knots[-1] - knots[-2], 1e-12)
    z = np.where(means < knots[0], _Z[0] + (means - knots[0]) * lo_slope, z)
    z = np.where(means > knots[-1], _Z[-1] + (means - knots[-1]) * hi_slope, z)
    return z / math.sqrt(design["vif"])
