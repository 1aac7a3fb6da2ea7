"""Block statistics: the numeric monitors' unit of testing.

A block is ``block_size`` consecutive values; its mean and standard deviation are
close to normal for most features, which is what lets one calibration fit all.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["MAX_ABS_VALUE", "Z_CLIP", "block_sd_floor", "block_stats"]

# Numbers beyond this magnitude are not usable values (they count as type mismatches):
# keeping inputs below it keeps every sum and square in the monitors finite.
MAX_ABS_VALUE = 1e100
Z_CLIP = 1e6

def block_stats(x: np.ndarray, mean: float, sd: float, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Means and standard deviations of consecutive blocks of standardised values.

    ``x`` is one series, or several as the rows of a 2-D array (each cut into blocks
    alike: one pass for all of them). Each block is summed along its own row of a
    (..., blocks, b) array, so a block's statistics do not depend on the array it sits
    in: results are bit-identical across batchings (and between one series and the
    same series stacked with others; tests/core/test_blocks.py). Standardised values are
    clipped at +-1e6 sd: that far out every test alarms anyway, and no square or sum
    can overflow into state.

    >>> m, s = block_stats(np.arange(8.0), mean=0.0, sd=1.0, b=4)
    >>> m.tolist(), np.round(s, 3).tolist()
    ([1.5, 5.5], [1.291, 1.291])
    """
    nb = x.shape[-1] // b
    z = x[..., : nb * b].reshape(*x.shape[:-1], nb, b)
    if mean != 0.0 or sd != 1.0:
        z = (z - mean) / sd
    z = np.maximum(z, -Z_CLIP)  # np.clip without its Python wrappers
    np.minimum(z, Z_CLIP, out=z)
    means = z.sum(axis=-1) / b
    d = z - means[..., None]
    d *= d
    return means, np.sqrt(d.sum(axis=-1) / (b - 1))


def block_sd_floor(mean_sd: float, b: int) -> float:
    """Spread of block sds that independent normal values with this mean block sd give.

    A block's sample sd (``ddof=1``) of ``b`` independent N(0, s^2) values has mean
    c4(b) s and standard deviation s sqrt(1 - c4(b)^2), so the ratio of spread to
    mean is sqrt(1 - c4^2) / c4 whatever s is. Dependence or changing volatility
    only widen the spread; a reference of a few blocks can still estimate it below
    this, which is what the floor is for.

    >>> round(block_sd_floor(1.0, 16), 4), round(block_sd_floor(1.0, 8), 4)
    (0.184, 0.2716)
    """
    log_c4 = (0.5 * math.log(2.0 / (b - 1)) + math.lgamma(b / 2.0)
              - math.lgamma((b - 1) / 2.0))
    c4 = math.exp(log_c4)
    return mean_sd * math.sqrt(max(1.0 - c4 * c4, 0.0)) / c4
