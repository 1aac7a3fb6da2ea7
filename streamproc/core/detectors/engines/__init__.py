"""Exact integer CUSUM engines, a whole batch per call.

:class:`Cusum` (Gaussian items quantized to 2**-20) and :class:`BernoulliCusum`
(log-likelihood ratios in 1/1000 nat): integer statistics, so that a stream fed in one
batch or cut anywhere gives bit-identical state. The registered detectors wrap them.
"""

from __future__ import annotations

from .bernoulli_cusum import BernoulliCusum
from .integer_cusum import Cusum, quantize

__all__ = [
    "BernoulliCusum",
    "Cusum",
    "quantize",
]
