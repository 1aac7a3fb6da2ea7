"""A one-sided CUSUM in exact integer arithmetic, and arrays packed for state.

``S_n = max(0, S_{n-1} + q_n)`` with ``q`` already reduced by the allowance and
rounded to multiples of ``2**-20`` (:func:`quantize`), summed as 64-bit integers:
a stream fed in one batch or cut anywhere gives bit-identical statistics, and a
batch is evaluated with a cumulative sum and a running minimum, not a Python loop.
This mirrors ``streamproc.core.cusum`` (which this draft may not import); at merge
the two should become one.

The statistic is the sum of ``q`` over the current excursion (the items since it
last stood at zero), so the excursion's mean increment is ``S / length``: with the
allowance added back, the estimated size of the change.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np

__all__ = ["LindleyCusum", "pack", "quantize", "unpack"]

_SCALE = float(1 << 20)
# Far beyond any threshold (the test alarms at once) and far inside int64 for a batch.
_CLIP = 1e5


def quantize(y: np.ndarray) -> np.ndarray:
    """``y`` in integer units of ``2**-20`` (clipped at +-1e5).

    >>> quantize(np.array([0.5, -1e9])).tolist()
    [524288, -104857600000]
    """
    return np.rint(np.clip(np.asarray(y, dtype=np.float64), -_CLIP, _CLIP) * _SCALE).astype(
        np.int64)


def pack(values: Any, dtype: str = "<f8") -> str:
    """Base64 of the values as little-endian ``dtype``: exact and compact in JSON.

    >>> unpack(pack([1.5, -2.0])).tolist()
    [1.5, -2.0]
    """
    return base64.b64encode(np.asarray(values, dtype=dtype).tobytes()).decode("ascii")


def unpack(text: str, dtype: str = "<f8") -> np.ndarray:
    """The array :func:`pack` wrote; ValueError when the text is not one."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        raise ValueError("packed array in the state is not base64") from None
    if len(raw) % np.dtype(dtype).itemsize:
        raise ValueError(f"packed array of {len(raw)} bytes is not a whole number of {dtype}")
    return np.frombuffer(raw, dtype=dtype).astype(np.dtype(dtype).newbyteorder("="))


class LindleyCusum:
    """One-sided upper CUSUM of quantized increments (allowance already subtracted).

    Examples
    --------
    >>> c = LindleyCusum(threshold=2.0)
    >>> c.feed(quantize(np.array([-0.5, 1.0, 1.0, 0.5, -9.0, 1.0])))
    [(3, 1, 0.8333333333333334)]
    >>> c.statistic, c.n
    (1.0, 6)
    """

    __slots__ = ("threshold", "_h", "_s", "_n", "_start")

    def __init__(self, threshold: float) -> None:
        if not threshold > 0 or not math.isfinite(threshold):
            raise ValueError(f"CUSUM threshold must be a positive number, got {threshold!r}")
        self.threshold = float(threshold)
        self._h = int(math.ceil(self.threshold * _SCALE))
        self._s = 0  # statistic, in units of 2**-20
        self._n = 0  # items consumed
        self._start = 0  # item index where the current excursion began

    @property
    def statistic(self) -> float:
        return self._s / _SCALE

    @property
    def n(self) -> int:
        return self._n

    @property
    def onset(self) -> int | None:
        """Item index where the current excursion began (None at zero)."""
        return self._start if self._s > 0 else None

    def restart(self) -> None:
        """Start afresh after an alarm, keeping the item count."""
        self._s = 0
        self._start = self._n

    def feed(self, q: np.ndarray) -> list[tuple[int, int, float]]:
        """Consume ``q``; for each alarm: (index in ``q``, onset item index, mean increment
        over the excursion). The CUSUM restarts after each alarm."""
        out: list[tuple[int, int, float]] = []
        i = 0
        n = len(q)
        while i < n:
            c = np.cumsum(q[i:])
            floor = np.minimum(np.minimum.accumulate(c), -self._s)
            stat = c - floor
            above = stat > self._h
            first = int(above.argmax())
            end = first if above[first] else len(stat) - 1
            zeros = np.flatnonzero(stat[: end + 1] == 0)
            if len(zeros):
                self._start = self._n + int(zeros[-1]) + 1
            elif self._s == 0:
                self._start = self._n
            self._s = int(stat[end])
            self._n += end + 1
            if not above[first]:
                break
            length = self._n - self._start
            out.append((i + end, self._start, self._s / _SCALE / length))
            self.restart()
            i += end + 1
        return out

    def to_state(self) -> list[Any]:
        return [self.threshold, self._s, self._n, self._start]

    @classmethod
    def from_state(cls, state: list[Any]) -> LindleyCusum:
        threshold, s, n, start = state
        c = cls(float(threshold))
        c._s, c._n, c._start = int(s), int(n), int(start)
        if c._s < 0 or not 0 <= c._start <= c._n:
            raise ValueError("CUSUM state has a negative statistic or an onset out of range")
        return c
