"""Block statistics: the numeric monitors' unit of testing.

A block is ``block_size`` consecutive values; its mean and standard deviation are
close to normal for most features, which is what lets one calibration fit all.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_ABS_VALUE", "Z_CLIP", "block_stats"]

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
