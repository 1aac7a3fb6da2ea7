"""Block statistics of category counts, for :mod:`streamproc.core.monitors.categorical`.

Pure functions of counts and of the learnt reference (a dict, as the monitor keeps it):
the reference's dispersion, a declared season's shares per phase bin, the blocks'
normal scores (Wilson-Hilferty of their chi-squares, against the reference shares or
an EWMA prediction of them) and their standardisation on a dependent reference.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .dependence import overdispersed

__all__ = ["DISPERSION_BLOCK", "MAX_BLOCK", "OTHER", "block_scores", "category_name", "dispersion",
           "seasonal_shares", "standardise_on_reference", "tracked_shares"]

# The pooled bucket of rare categories (and, in a reference, of those beyond the cap).
OTHER = "(other)"

MAX_BLOCK = 2000  # values per block at most
# Pseudo-counts of the whole reference's shares in each phase bin's (declared season).
_SEASON_PRIOR = 10.0
# EWMA weights tried for predicting a dependent stream's shares (0: the reference's).
_ALPHAS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
# The reference's dispersion is measured on blocks of this many values: their
# chi-square distances from the reference shares average the degrees of freedom on an
# independent stream, more on a sticky or cycling one (see dispersion).
DISPERSION_BLOCK = 100
# Expected count per category per block for the chi-square approximation to hold.
_MIN_EXPECTED = 5.0


def category_name(value: Any) -> str:
    """The category a value stands for, the same wherever categories are compared.

    >>> category_name(True), category_name(3.0), category_name(0.5), category_name("fr")
    ('true', '3', '0.5', 'fr')
    """
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def dispersion(counts: dict[str, int], blocks: list[dict[str, int]], n: int,
               min_share: float) -> float:
    """Variance inflation of the reference's block counts (1: independent).

    The chi-square distances of the reference's blocks from its own shares sum to
    about ``B (K - 1)(1 - m / n)`` for independent values; a sticky stream (runs of
    the same category) or cycling shares make them larger by the factor their
    counts' variance is inflated. Tested on blocks of 100 and of 500 values (a slow
    cycle shows better in longer blocks), used only when overdispersed.
    """
    kept = [k for k, c in counts.items() if c / n >= min_share]
    blocks = [b for b in blocks if sum(b.values()) == DISPERSION_BLOCK]
    if len(kept) < 2 or len(blocks) < 2:
        return 1.0
    shares = np.array([counts[k] / n for k in kept])
    rows = np.array([[b.get(k, 0) for k in kept] for b in blocks], dtype=np.float64)
    rest = 1.0 - shares.sum()
    if rest > 1e-12:
        rows = np.hstack([rows, DISPERSION_BLOCK - rows.sum(axis=1, keepdims=True)])
        shares = np.append(shares, rest)
    df = len(shares) - 1
    ratio = 1.0
    for group in (1, 5):
        nb = len(rows) // group
        if nb < 2:
            break
        grouped = rows[: nb * group].reshape(nb, group, -1).sum(axis=1)
        m = group * DISPERSION_BLOCK
        chi2 = float(((grouped - m * shares) ** 2 / (m * shares)).sum())
        dof = df * nb * (1.0 - m / n)
        if group == 1:
            ratio = chi2 / dof
        if overdispersed(chi2, dof):
            return max(ratio, 1.0 + 1e-9)
    return 1.0


def seasonal_shares(bin_counts: list[dict[str, int]], kept: list[str], names: list[str],
                    overall: np.ndarray) -> list[list[float]]:
    """Each phase bin's shares, shrunk towards the whole reference's by
    _SEASON_PRIOR pseudo-counts (a quiet bin is not all noise)."""
    rows = []
    for counts in bin_counts:
        c = np.array([counts.get(k, 0) for k in kept], dtype=np.float64)
        n = float(sum(counts.values()))
        if len(names) > len(kept):
            c = np.append(c, n - c.sum())
        else:
            c[-1] += n - c.sum()
        rows.append((c + _SEASON_PRIOR * overall) / (n + _SEASON_PRIOR))
    return np.asarray(rows).tolist()


def standardise_on_reference(ref: dict[str, Any], kept: list[str],
                             ref_blocks: list[dict[str, int]]) -> None:
    """A dependent reference: standardise block scores by the reference's own.

    Sticky streams and cycling shares make block chi-squares larger, more variable
    and correlated from block to block. The reference's blocks (whole dispersion
    blocks, so the block size becomes a multiple of theirs) give the scores' mean
    and spread, and their lag-one correlation the variance inflation of their sum;
    the CUSUM then reads scores that are N(0, 1)-like and independent-like.
    """
    group = max(1, math.ceil(ref["block"] / DISPERSION_BLOCK))
    m = group * DISPERSION_BLOCK
    full = [b for b in ref_blocks if sum(b.values()) == DISPERSION_BLOCK]
    rows = [[b.get(k, 0) for k in kept] for b in full]
    mat = np.asarray(rows, dtype=np.int64).reshape(len(rows), len(kept))
    if len(ref["names"]) > len(kept):  # the pooled bucket
        mat = np.hstack([mat, DISPERSION_BLOCK - mat.sum(axis=1, keepdims=True)])
    else:  # the rarest kept category's bucket also pools the rest
        mat[:, -1] += DISPERSION_BLOCK - mat.sum(axis=1)
    nb = len(mat) // group
    if nb < 8:
        return
    blocks = mat[: nb * group].reshape(nb, group, -1).sum(axis=1)
    ref["block"] = min(m, MAX_BLOCK)
    ref["mean_se"] = (m / ref["n"]) / (1.0 + m / ref["n"])
    # Shares that cycle or wander are predicted from the recent blocks (an EWMA,
    # its weight chosen on the reference), as numeric scores are whitened.
    ref["alpha"] = min(_ALPHAS, key=lambda a: float(block_scores(ref, blocks, a)[1].mean()))
    y, _, _ = block_scores(ref, blocks, ref["alpha"])
    centred = y - y.mean()
    rho = float(np.dot(centred[1:], centred[:-1]) / max(np.dot(centred, centred), 1e-300))
    inflation = (1.0 + rho) / (1.0 - rho) if rho > 3.0 / math.sqrt(nb) else 1.0
    nb_eff = max(nb / inflation, 2.0)
    ref["y_mean"] = float(y.mean())
    ref["y_scale"] = float(y.std(ddof=1)) * math.sqrt(inflation)
    ref["mean_se"] = 1.0 / math.sqrt(nb_eff)
    ref["scale_se"] = 1.0 / math.sqrt(2.0 * (nb_eff - 1.0))


def block_scores(
    ref: dict[str, Any], counts: np.ndarray, alpha: float | None = None,
    start: np.ndarray | None = None, expected: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Normal scores of blocks' category counts (Wilson-Hilferty of the chi-square),
    the chi-squares, and the predictions after each block. With an EWMA weight
    (``alpha``; the reference's ``ref`` by default) each block is compared with the
    shares predicted from the blocks before it; ``start`` is the prediction before the
    first block. Without one the predictions are empty."""
    m = ref["block"]
    k = len(ref["names"])
    shares = np.asarray(ref["shares"])
    a = ref.get("alpha", 0.0) if alpha is None else alpha
    after: list[np.ndarray] = []
    if expected is not None:  # a declared season: each value's own bin's shares
        pass
    elif a:
        pred = shares if start is None else start
        rows = []
        for c in counts:
            rows.append(pred)
            pred = (1.0 - a) * pred + a * (c / m)
            after.append(pred)
        expected = np.maximum(np.asarray(rows).reshape(len(counts), k), 1e-3) * m
    else:
        expected = shares * m
    df = k - 1
    # In control a block's chi-square exceeds its degrees of freedom by the error of
    # the reference shares (1 + m / n).
    inflation = 1.0 + m / ref["n"]
    chi2 = ((counts - expected) ** 2 / expected).sum(axis=1) / inflation
    wh_mean = 1.0 - 2.0 / (9.0 * df)
    wh_sd = math.sqrt(2.0 / (9.0 * df))
    y = (np.power(chi2 / df, 1.0 / 3.0) - wh_mean) / wh_sd
    if "y_mean" in ref and alpha is None:
        y = (y - ref["y_mean"]) / ref["y_scale"]
    return y, chi2, after


def tracked_shares(counts: dict[str, int], n: int, max_categories: int,
                   min_share: float) -> tuple[list[str], list[str], list[float], int, int]:
    """What a categorical reference tracks: (kept categories, tested names, their shares,
    categories seen once, block size).

    The ``max_categories`` most frequent categories with a share of at least
    ``min_share`` are kept; the rest are pooled into :data:`OTHER`, or, when the pooled
    mass is too small to test on its own, into the rarest kept category's bucket. The
    block size makes every tested share expect at least 5 counts per block.

    >>> tracked_shares({"a": 70, "b": 29, "c": 1}, 100, 50, 0.05)
    (['a', 'b'], ['a', 'b (other)'], [0.7, 0.3], 1, 17)
    """
    ranked = sorted(((c, k) for k, c in counts.items() if k != OTHER),
                    key=lambda t: (-t[0], t[1]))
    kept = [k for c, k in ranked[:max_categories] if c / n >= min_share]
    singletons = sum(1 for c, _ in ranked if c == 1)
    pooled = n - sum(counts[k] for k in kept)
    names = list(kept)
    shares = [counts[k] / n for k in kept]
    if pooled / n >= min_share or not kept:
        names.append(OTHER)
        shares.append(pooled / n)
    elif pooled:
        # Too little pooled mass to test on its own: the rarest kept category's
        # bucket also takes the pooled (and future unseen) values.
        names[-1] = f"{names[-1]} {OTHER}"
        shares[-1] += pooled / n
    m = int(min(MAX_BLOCK, max(16, math.ceil(_MIN_EXPECTED / min(shares)))))
    return kept, names, shares, singletons, m
