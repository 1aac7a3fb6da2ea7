"""One-sided CUSUM in exact integer arithmetic, a whole batch per call.

``S_n = max(0, S_{n-1} + y_n - k)`` alarms when ``S_n > h``. Inputs are rounded to
multiples of ``2**-20`` and summed as 64-bit integers, so the statistic is exact:
a stream fed in one batch or cut anywhere gives bit-identical state (which crash
recovery relies on), and the Lindley recursion can be evaluated for a whole batch
with cumulative sums and a running minimum instead of a Python loop:
``S_n = C_n - min(-S_0, C_1, ..., C_n)`` where ``C`` is the cumulative sum of
``y - k``.

A scan is separate from consuming: :meth:`Cusum.scan` finds the first alarm among
the first ``limit`` items without changing the state, :meth:`Cusum.advance`
consumes the first ``n`` items of the same batch. A monitor scans all of its
detectors, takes the earliest alarm, and advances every detector exactly to it.

The current excursion (the items since the statistic last stood at zero) is the
estimate of a change: its first item's tag is the onset, and the means of ``y``
and of an auxiliary series over it describe the change.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import DetectorMisuse, InvalidSetting, InvalidState

__all__ = ["Cusum", "quantize"]

# Resolution of the integer statistic: 2**-20 ~ 1e-6 of the input's unit.
_SCALE = float(1 << 20)
# Inputs are clipped to +-this before rounding: far beyond any threshold (the test
# alarms at once), and it keeps every batch sum far inside the int64 range.
_CLIP = 1e5


def quantize(y: np.ndarray) -> np.ndarray:
    """``y`` in integer units of the statistic (clipped at +-1e5).

    >>> quantize(np.array([0.5, -1e9])).tolist()
    [524288, -104857600000]
    """
    # maximum/minimum are np.clip's arithmetic without its Python wrappers (~3 us a call).
    q = np.maximum(y, -_CLIP)
    np.minimum(q, _CLIP, out=q)
    q *= _SCALE
    return np.rint(q, out=q).astype(np.int64)


class Cusum:
    """One-sided upper CUSUM of quantized items (see :func:`quantize`).

    Parameters
    ----------
    allowance
        ``k``: subtracted from every item (half the shift it is tuned for; 0 for items
        that are log-likelihood ratios already, whose drift is negative in control).
    threshold
        ``h``: the statistic alarms above it.

    Examples
    --------
    >>> c = Cusum(allowance=0.5, threshold=2.0)
    >>> y = quantize(np.array([0.1, 1.5, 1.5, 1.5, 0.0]))
    >>> c.scan(y, len(y))
    3
    >>> c.advance(y, np.zeros(5, dtype=np.int64), [(i, 0.0) for i in range(5)], 4)
    >>> c.drift_detected, c.statistic, c.onset_tag, round(c.excursion_mean, 2)
    (True, 3.0, (1, 0.0), 1.5)
    """

    __slots__ = ("allowance", "threshold", "_k", "_h", "_s", "_n", "_start", "_sum", "_aux",
                 "_tag", "_detected", "_scan", "started_at")

    def __init__(self, allowance: float, threshold: float) -> None:
        if not allowance >= 0:
            raise InvalidSetting(f"allowance must be zero or positive, got {allowance!r}")
        if threshold <= 0:
            raise InvalidSetting(f"threshold must be positive, got {threshold!r}")
        self.allowance = float(allowance)
        self._k = int(round(self.allowance * _SCALE))
        self.set_threshold(threshold)
        self._scan: tuple[Any, ...] | None = None
        self.restart()

    def set_threshold(self, threshold: float) -> None:
        """Change the alarm level, keeping the statistic (budgets are re-split live)."""
        if threshold <= 0:
            raise InvalidSetting(f"threshold must be positive, got {threshold!r}")
        self.threshold = float(threshold)
        self._h = int(np.ceil(self.threshold * _SCALE))

    def restart(self) -> None:
        """Start afresh (after a detection), keeping the design."""
        self._s = 0
        self._n = 0  # items since the restart
        self._start = 0  # index (since the restart) of the excursion's first item
        self._sum = 0  # quantized sum of y over the excursion
        self._aux: Any = 0  # sum of the auxiliary items over the excursion
        self._tag: Any = None  # tag of the excursion's first item
        self._detected = False
        self.started_at: int | None = None  # batch index where the last advance began one

    # -- views ------------------------------------------------------------------------
    @property
    def drift_detected(self) -> bool:
        return self._detected

    @property
    def statistic(self) -> float:
        return self._s / _SCALE

    @property
    def onset_tag(self) -> Any:
        """Tag of the first item of the current excursion (None when there is none)."""
        return self._tag if self._s > 0 else None

    @property
    def excursion_length(self) -> int:
        return self._n - self._start if self._s > 0 else 0

    @property
    def excursion_mean(self) -> float:
        """Mean of ``y`` over the current excursion: the estimated shift."""
        m = self.excursion_length
        return self._sum / m / _SCALE if m else 0.0

    @property
    def aux_mean(self) -> float:
        """Mean of the (quantized) auxiliary series over the current excursion."""
        m = self.excursion_length
        return self._aux / m / _SCALE if m and isinstance(self._aux, int) else 0.0

    @property
    def aux_means(self) -> list[float]:
        """Means of each auxiliary column over the current excursion (rows of quantized
        items, see :meth:`advance`); empty when there is no excursion."""
        m = self.excursion_length
        if not m or isinstance(self._aux, int):
            return []
        return [a / m / _SCALE for a in self._aux]

    @property
    def aux_total(self) -> Any:
        """Sum of the auxiliary items over the current excursion (ints, or lists of ints
        when each item is a row)."""
        return self._aux

    # -- batch ----------------------------------------------------------------------------
    def scan(self, y: np.ndarray, limit: int) -> int:
        """Index of the first alarm among ``y[:limit]``, or -1; the state is unchanged."""
        if self._detected:
            raise DetectorMisuse("CUSUM already alarmed; restart() it first")
        if limit <= 0:
            self._scan = None
            return -1
        c = (y[:limit] - self._k).cumsum()
        running_min = np.minimum.accumulate(c)
        np.minimum(running_min, -self._s, out=running_min)
        stat = c - running_min
        self._scan = (limit, stat)
        above = stat > self._h
        first = int(above.argmax())  # the first True, or 0 when there is none
        return first if above[first] else -1

    def advance(self, y: np.ndarray, aux: np.ndarray, tags: Any, n: int) -> None:
        """Consume ``y[:n]`` (after :meth:`scan` over at least n items of the same ``y``).

        ``aux`` is summed over the excursion like ``y`` (a quantized series, or rows of
        integer counts);
        ``tags[i]`` labels item i (its onset tag when an excursion starts there).
        """
        if n <= 0:
            return
        scanned = self._scan
        if scanned is None or scanned[0] < n:
            raise DetectorMisuse("advance() needs a scan() over at least as many items")
        stat = scanned[1]
        self._scan = None
        last = int(stat[n - 1])
        zeros = (stat[:n] == 0).nonzero()[0]
        self.started_at = None
        if last == 0:
            self._start = self._n + n
            self._sum = 0
            self._aux = _total(aux[:0])
            self._tag = None
        elif len(zeros) or self._s == 0:
            first = int(zeros[-1]) + 1 if len(zeros) else 0
            self._start = self._n + first
            self._sum = int(y[first:n].sum())
            self._aux = _total(aux[first:n])
            self._tag = tags[first]
            self.started_at = first
        else:
            self._sum += int(y[:n].sum())
            more = _total(aux[:n])
            self._aux = (self._aux + more if isinstance(more, int)
                         else [a + b for a, b in zip(self._aux, more, strict=True)])
        self._s = last
        self._n += n
        self._detected = last > self._h

    # -- state ----------------------------------------------------------------------------
    def to_state(self) -> list[Any]:
        return [self.allowance, self.threshold, self._s, self._n, self._start, self._sum,
                self._aux, self._tag, int(self._detected)]

    @classmethod
    def from_state(cls, state: list[Any]) -> Cusum:
        allowance, threshold, s, n, start, total, aux, tag, detected = state
        c = cls(float(allowance), float(threshold))
        c._s, c._n, c._start, c._sum = int(s), int(n), int(start), int(total)
        c._aux = int(aux) if isinstance(aux, int) else [int(v) for v in aux]
        if c._s < 0 or not 0 <= c._start <= c._n:
            raise InvalidState("CUSUM state has a negative statistic or an onset out of range")
        c._tag = None if tag is None else (int(tag[0]), float(tag[1]))
        c._detected = bool(detected)
        return c


def _total(a: np.ndarray) -> Any:
    s = a.sum(axis=0)
    return [int(v) for v in s] if a.ndim > 1 else int(s)
