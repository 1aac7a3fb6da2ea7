"""Score calibration learnt on the reference's labelled predictions, with its own error.

Label-free estimation (CBPE, NannyML's idea) rests on one assumption: the chance that
a prediction is right given its score, ``P(y = 1 | s)``, is the same in production as
in the reference; only the mix of scores changes. That map is learnt here:

* **Histogram binning with a monotone fix.** The reference scores are cut into at most
  ``bins`` (64) bins of equal count (tied scores stay in one bin); each bin's positive
  rate is made non-decreasing in the score by pool-adjacent-violators (isotonic
  regression on the bins), and scores in between are interpolated linearly between the
  bins' mean scores. The state is two arrays of <= 64 knots, whatever the reference's
  size.
* **Out of fold.** The reference's own calibrated probabilities are computed K-fold
  (``folds``, 5): each fold through the map learnt on the others. They give the
  reference's *estimated* metrics honestly (an in-sample map fits its own noise).
* **Its own error.** ``replicates`` (32) bootstrap resamples of the reference give as
  many maps on the same knots. A window's metric computed under each replicate map
  spreads as the calibrator's error makes it spread; that spread, added to the
  Poisson-binomial sampling of the realised metric, is the interval
  (:mod:`.window`). Keeping whole replicate maps (32 x 64 numbers) instead of per-bin
  standard errors propagates the error through any metric, AUC included, and keeps
  the errors of neighbouring bins correlated as the bootstrap makes them.

Multiclass models are calibrated one-vs-rest (one map per class score) and the
calibrated class probabilities are renormalised to sum to one (:class:`ClassCalibration`,
which also turns probabilities into each prediction's expected correctness).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidSetting, InvalidState
from ..snapshot_arrays import pack, unpack

__all__ = ["ClassCalibration", "ScoreCalibrator", "pav"]

# Bins of the score histogram: ~800 reference events per bin at 50k, 30 at 2k; more
# knots than that buys no accuracy and costs state.
BINS = 64
FOLDS = 5
REPLICATES = 32
# Calibrated probabilities are kept this far from 0 and 1: a bin that saw no negative
# does not make an error impossible (the calibration check takes logits).
_EPS = 1e-4


def pav(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted non-decreasing least-squares fit of ``y`` (pool adjacent violators).

    >>> pav(np.array([0.1, 0.3, 0.2, 0.6]), np.array([1.0, 1.0, 3.0, 1.0])).round(3).tolist()
    [0.1, 0.225, 0.225, 0.6]
    """
    vals: list[float] = []
    wts: list[float] = []
    sizes: list[int] = []
    for v, wt in zip(y.tolist(), w.tolist(), strict=True):
        vals.append(v)
        wts.append(wt)
        sizes.append(1)
        while len(vals) > 1 and vals[-2] > vals[-1]:
            v2, w2, n2 = vals.pop(), wts.pop(), sizes.pop()
            total = wts[-1] + w2
            vals[-1] = (vals[-1] * wts[-1] + v2 * w2) / total if total > 0 else vals[-1]
            wts[-1] = total
            sizes[-1] += n2
    return np.repeat(np.array(vals), np.array(sizes, dtype=np.intp))


def _edges(scores: np.ndarray, bins: int) -> np.ndarray:
    """Inner bin edges: equal-count quantiles, deduplicated (ties stay together)."""
    q = np.quantile(scores, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    return np.unique(q)


def _bin_rates(idx: np.ndarray, labels: np.ndarray, nbins: int,
               weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    count = np.bincount(idx, weights=weights, minlength=nbins)
    pos = np.bincount(idx, weights=labels if weights is None else labels * weights,
                      minlength=nbins)
    return count, pos


class ScoreCalibrator:
    """A monotone map from a model's score to the probability that the class is true.

    Parameters
    ----------
    knots
        Mean reference score of each (non-empty) bin, increasing.
    rates
        Calibrated probability at each knot (non-decreasing).
    replicates
        ``(R, len(knots))``: the rates of the bootstrap replicate maps.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> s = rng.random(20_000)
    >>> y = (rng.random(20_000) < s ** 2).astype(float)  # the model is over-confident
    >>> cal, oof = ScoreCalibrator.fit(s, y, seed=1)
    >>> cal(np.array([0.5, 0.9])).round(2).tolist(), len(cal.knots), cal.replicates.shape
    ([0.25, 0.83], 64, (32, 64))
    >>> round(float(np.mean(oof)), 3), round(float(np.mean(y)), 3)
    (0.336, 0.337)
    """

    def __init__(self, knots: np.ndarray, rates: np.ndarray, replicates: np.ndarray) -> None:
        if knots.ndim != 1 or len(knots) < 1 or len(knots) > 4 * BINS:
            raise InvalidState(f"a calibrator needs 1 to {4 * BINS} knots, got {knots.shape}")
        if rates.shape != knots.shape or replicates.ndim != 2 or (
                replicates.shape[1] != len(knots)):
            raise InvalidState("calibrator rates or replicates do not match its knots")
        if np.any(np.diff(knots) <= 0):
            raise InvalidState("calibrator knots are not strictly increasing")
        self.knots = knots
        self.rates = rates
        self.replicates = replicates

    # -- learning --------------------------------------------------------------------------
    @staticmethod
    def _map(scores: np.ndarray, labels: np.ndarray, edges: np.ndarray,
             weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(knots, rates) of the binned, PAV-fixed map of one sample."""
        idx = np.searchsorted(edges, scores, side="right")
        nb = len(edges) + 1
        count, pos = _bin_rates(idx, labels, nb, weights)
        ssum = np.bincount(idx, weights=scores if weights is None else scores * weights,
                           minlength=nb)
        keep = count > 0
        knots = ssum[keep] / count[keep]
        # Bin means of tied scores can coincide in floating point: merge such bins.
        knots, inverse = np.unique(knots, return_inverse=True)
        count = np.bincount(inverse, weights=count[keep])
        pos = np.bincount(inverse, weights=pos[keep])
        rates = pav(pos / count, count)
        return knots, np.clip(rates, _EPS, 1.0 - _EPS)

    @classmethod
    def fit(cls, scores: np.ndarray, labels: np.ndarray, bins: int = BINS, folds: int = FOLDS,
            replicates: int = REPLICATES, seed: int = 0
            ) -> tuple[ScoreCalibrator, np.ndarray]:
        """The calibrator of ``scores`` against 0/1 ``labels``, and the reference's
        out-of-fold calibrated probabilities."""
        s = np.asarray(scores, dtype=np.float64)
        y = np.asarray(labels, dtype=np.float64)
        if s.ndim != 1 or s.shape != y.shape:
            raise InvalidSetting(f"scores {s.shape} and labels {y.shape} must be 1-D and match")
        if len(s) < 10 * folds:
            raise InvalidSetting(f"a calibrator needs at least {10 * folds} labelled reference "
                             f"predictions, got {len(s)}: give it a longer reference")
        if not np.isfinite(s).all() or not np.isin(y, (0.0, 1.0)).all():
            raise InvalidSetting("reference scores must be finite and labels 0 or 1")
        edges = _edges(s, bins)
        knots, rates = cls._map(s, y, edges)
        rng = np.random.default_rng(seed)
        fold = rng.permutation(len(s)) % folds
        oof = np.empty(len(s))
        for k in range(folds):
            out = fold == k
            kk, rr = cls._map(s[~out], y[~out], edges)
            oof[out] = np.interp(s[out], kk, rr)
        reps = np.empty((replicates, len(knots)))
        for r in range(replicates):
            w = rng.multinomial(len(s), np.full(len(s), 1.0 / len(s))).astype(np.float64)
            kk, rr = cls._map(s, y, edges, w)
            reps[r] = np.interp(knots, kk, rr)
        return cls(knots, rates, reps), oof

    # -- use -------------------------------------------------------------------------------
    def __call__(self, scores: np.ndarray) -> np.ndarray:
        return np.interp(scores, self.knots, self.rates)

    def replicated(self, scores: np.ndarray) -> np.ndarray:
        """``(R, n)``: the scores through every replicate map."""
        return np.stack([np.interp(scores, self.knots, r) for r in self.replicates])

    def without_replicates(self) -> ScoreCalibrator:
        """The same map without its replicates (a user of probabilities only keeps less
        state)."""
        return ScoreCalibrator(self.knots, self.rates, self.rates[None, :].copy())

    def to_state(self) -> dict[str, Any]:
        return {"knots": pack(self.knots), "rates": pack(self.rates),
                "replicates": pack(self.replicates.ravel()), "r": len(self.replicates)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ScoreCalibrator:
        knots, rates = unpack(state["knots"]), unpack(state["rates"])
        r = int(state["r"])
        flat = unpack(state["replicates"])
        if r < 1 or len(flat) != r * len(knots):
            raise InvalidState("calibrator state: replicates do not match the knots")
        return cls(knots, rates, flat.reshape(r, len(knots)))


class ClassCalibration:
    """The calibrators of a model's class scores (binary: one, for the positive class).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> s = rng.random(5000); y = (rng.random(5000) < s).astype(int)
    >>> cal, oof = ClassCalibration.fit(s, y)
    >>> p = cal.probabilities(np.array([0.2, 0.9]))
    >>> cal.binary, p.round(2).tolist(), cal.correctness(p, np.array([0, 1])).round(2).tolist()
    (True, [0.22, 0.91], [0.78, 0.91])
    """

    def __init__(self, calibrators: list[ScoreCalibrator]) -> None:
        self.calibrators = calibrators
        self.binary = len(calibrators) == 1

    @classmethod
    def fit(cls, scores: np.ndarray, labels: np.ndarray, seed: int = 0
            ) -> tuple[ClassCalibration, np.ndarray]:
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

    def without_replicates(self) -> ClassCalibration:
        return ClassCalibration([c.without_replicates() for c in self.calibrators])

    def to_state(self) -> list[dict[str, Any]]:
        return [c.to_state() for c in self.calibrators]

    @classmethod
    def from_state(cls, state: list[dict[str, Any]]) -> ClassCalibration:
        cals = [ScoreCalibrator.from_state(s) for s in state]
        if not cals or len({len(c.replicates) for c in cals}) != 1:
            raise InvalidState("calibration state needs calibrators with equal replicates")
        return cls(cals)


def _normalise(p: np.ndarray) -> np.ndarray:
    return p / p.sum(axis=-1, keepdims=True)
