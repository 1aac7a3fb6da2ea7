"""Metrics of a window of predictions: expected from calibrated probabilities, realised
from labels, with the interval between the two.

One function computes accuracy, precision, recall, F1 and ROC AUC for many label rows
at once. A row holds either 0/1 labels (a realised metric) or calibrated
probabilities (the expected metric: each confusion-matrix cell is the sum of the
probabilities that fall in it, e.g. ``TP = sum over predicted positives of p``, so
precision, recall and F1 are ratios of expected counts, as in NannyML's CBPE).

**Expected ROC AUC.** Sort the window by score and group tied scores. A pair of a
positive ``i`` and a negative ``j`` counts 1 when ``s_i > s_j`` and 1/2 when tied, so
with independent labels of probabilities ``p``::

    E[right pairs] = sum_g P_g N_<g + (P_g N_g - sum_{i in g} p_i (1 - p_i)) / 2
    E[pairs]       = P N - sum_i p_i (1 - p_i)

where ``P_g, N_g`` are the sums of ``p`` and ``1 - p`` over group ``g`` and ``N_<g``
over the groups below it; the AUC estimate is their ratio (the same formula gives the
realised AUC, ties as 1/2, when ``p`` is 0/1). One sort of the window, O(n log n).

**The interval** (:func:`window_estimate`). The realised metric of a window differs
from its estimate for two reasons, and the interval adds both variances:

* sampling: even with a perfect calibrator the labels are Bernoulli(p), so the
  realised metric is a Poisson-binomial function of them. Its spread is measured by
  simulating ``SIMULATIONS`` (256) label rows from ``p`` (seeded by the window's end
  position, so an estimate is reproducible) and computing the metric of each;
* the calibrator's own error: the metric under each bootstrap replicate map
  (:mod:`.calibrator`) spreads as that error makes it spread.

``estimate +- 1.96 sqrt(var_sampling + var_calibrator)``, clipped to [0, 1], is a 95%
interval for the realised metric. What it does not cover is a change of
``P(y | score)`` itself (concept shift): that is what the calibration check
(``calibration_check``) tests once labels arrive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["METRICS", "MetricEstimate", "binary_metrics", "multiclass_metrics",
           "window_estimate"]

METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
SIMULATIONS = 256
Z_95 = 1.959963984540054


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _auc(order: np.ndarray, starts: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Expected (or realised) AUC of every row of ``labels`` (see the module text)."""
    lab = labels[:, order]
    pg = np.add.reduceat(lab, starts, axis=1)
    sizes = np.diff(np.append(starts, lab.shape[1]))
    ng = sizes[None, :] - pg
    below = np.cumsum(ng, axis=1) - ng
    self_pairs = (lab * (1.0 - lab)).sum(axis=1)
    right = (pg * below).sum(axis=1) + 0.5 * ((pg * ng).sum(axis=1) - self_pairs)
    pairs = pg.sum(axis=1) * ng.sum(axis=1) - self_pairs
    return _ratio(right, pairs)


def _groups(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(scores, kind="stable")
    srt = scores[order]
    starts = np.flatnonzero(np.concatenate([[True], srt[1:] != srt[:-1]]))
    return order, starts


def binary_metrics(scores: np.ndarray, predicted: np.ndarray,
                   labels: np.ndarray) -> dict[str, np.ndarray]:
    """Metrics of the positive class for each row of ``labels`` (``(M, n)``, 0/1 or
    probabilities); ``predicted`` is 0/1.

    >>> s = np.array([0.1, 0.4, 0.35, 0.8]); yhat = (s >= 0.5).astype(float)
    >>> m = binary_metrics(s, yhat, np.array([[0, 0, 1, 1]]))
    >>> {k: round(float(v[0]), 3) for k, v in m.items()}
    {'accuracy': 0.75, 'precision': 1.0, 'recall': 0.5, 'f1': 0.667, 'roc_auc': 0.75}
    """
    lab = np.atleast_2d(np.asarray(labels, dtype=np.float64))
    pred = np.asarray(predicted, dtype=np.float64)
    n = lab.shape[1]
    tp = lab @ pred
    fp = pred.sum() - tp
    fn = lab.sum(axis=1) - tp
    tn = n - tp - fp - fn
    order, starts = _groups(np.asarray(scores, dtype=np.float64))
    return {"accuracy": (tp + tn) / n, "precision": _ratio(tp, tp + fp),
            "recall": _ratio(tp, tp + fn), "f1": _ratio(2 * tp, 2 * tp + fp + fn),
            "roc_auc": _auc(order, starts, lab)}


def multiclass_metrics(scores: np.ndarray, predicted: np.ndarray,
                       labels: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy and one-vs-rest macro averages; ``scores`` ``(n, C)``, ``predicted``
    class indices, ``labels`` ``(M, n, C)`` (one-hot rows or probabilities).

    >>> s = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.5, 0.4, 0.1]])
    >>> onehot = np.eye(3)[[0, 1, 2, 1]][None]
    >>> m = multiclass_metrics(s, s.argmax(axis=1), onehot)
    >>> round(float(m["accuracy"][0]), 3), round(float(m["f1"][0]), 3)
    (0.75, 0.778)
    """
    lab = np.asarray(labels, dtype=np.float64)
    pred = np.asarray(predicted)
    per: dict[str, list[np.ndarray]] = {k: [] for k in METRICS[1:]}
    right = np.zeros(lab.shape[0])
    for c in range(lab.shape[2]):
        m = binary_metrics(scores[:, c], (pred == c).astype(np.float64), lab[:, :, c])
        for k in per:
            per[k].append(m[k])
        right += lab[:, :, c] @ (pred == c).astype(np.float64)
    out = {"accuracy": right / lab.shape[1]}
    for k, vals in per.items():
        with np.errstate(invalid="ignore"):
            stacked = np.stack(vals)
            ok = np.isfinite(stacked)
            out[k] = _ratio(np.where(ok, stacked, 0.0).sum(axis=0), ok.sum(axis=0))
    return out


@dataclass(frozen=True)
class MetricEstimate:
    """A window's estimated metric, its 95% interval for the realised value, and the
    reference's realised and out-of-fold estimated values."""

    metric: str
    estimate: float
    lower: float
    upper: float
    sampling_sd: float
    calibrator_sd: float
    reference: float
    reference_estimate: float

    def as_dict(self) -> dict[str, float | str]:
        return dict(self.__dict__)


def _metrics(scores: np.ndarray, predicted: np.ndarray,
             labels: np.ndarray) -> dict[str, np.ndarray]:
    if scores.ndim == 1:
        return binary_metrics(scores, predicted, labels)
    return multiclass_metrics(scores, predicted, labels)


def _simulate(p: np.ndarray, rng: np.random.Generator, m: int) -> np.ndarray:
    if p.ndim == 1:
        return (rng.random((m, len(p))) < p).astype(np.float64)
    cum = np.cumsum(p, axis=1)
    u = rng.random((m, len(p), 1)) * cum[None, :, -1:]
    cls = (u > cum[None, :, :]).sum(axis=2)
    return np.eye(p.shape[1])[np.minimum(cls, p.shape[1] - 1)]


def window_estimate(scores: np.ndarray, predicted: np.ndarray, p: np.ndarray,
                    p_replicates: np.ndarray, reference: dict[str, float],
                    reference_estimate: dict[str, float], seed: int,
                    simulations: int = SIMULATIONS) -> dict[str, MetricEstimate]:
    """Every metric of a window: estimate, interval and reference values.

    ``p`` are the calibrated probabilities (``(n,)`` binary, ``(n, C)`` multiclass),
    ``p_replicates`` the same under each replicate map (``(R, n)`` or ``(R, n, C)``).
    """
    est = _metrics(scores, predicted, p[None])
    reps = _metrics(scores, predicted, p_replicates)
    sims = _metrics(scores, predicted, _simulate(p, np.random.default_rng(seed), simulations))
    out = {}
    for k in METRICS:
        e = float(est[k][0])
        s_sd = float(np.nanstd(sims[k])) if np.isfinite(sims[k]).any() else float("nan")
        c_sd = float(np.nanstd(reps[k])) if np.isfinite(reps[k]).any() else float("nan")
        half = Z_95 * float(np.hypot(s_sd, c_sd))
        out[k] = MetricEstimate(k, e, max(0.0, e - half), min(1.0, e + half), s_sd, c_sd,
                                float(reference.get(k, float("nan"))),
                                float(reference_estimate.get(k, float("nan"))))
    return out
