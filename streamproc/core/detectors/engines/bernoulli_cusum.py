"""Bernoulli CUSUM: detect an increase of a rate (errors, nulls, unseen values).

The DDM/HDDM family compares a running error rate with its best value so far under
fixed confidence levels; here the rate is compared with a reference rate by a
log-likelihood-ratio CUSUM (Reynolds & Stoumbos, 1999), so Lorden's bound turns a
false-alarm budget directly into a threshold (:mod:`streamproc.core.calibration`).

Increments are rounded to 1/1000 nat and summed as integers: the statistic is then
exact, and feeding a stream in one batch or in many gives bit-identical state, which
crash recovery relies on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...calibration import alternative_rate
from ...errors import DetectorMisuse, InvalidSetting

__all__ = ["BernoulliCusum"]

_SCALE = 1000  # increments in 1/1000 nat: rounding changes the ARL by < 0.1%


class BernoulliCusum:
    """One-sided CUSUM for a rise of a Bernoulli rate from ``p0`` to ``p1``.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> x = np.concatenate([rng.random(5000) < 0.1, rng.random(2000) < 0.2])
    >>> det = BernoulliCusum(p0=0.1, p1=0.2, threshold=9.2)
    >>> hit = det.update_many(x)
    >>> hit, det.onset, round(det.current_rate, 3)
    (5211, 5010, 0.203)
    """

    def __init__(self, p0: float, p1: float, threshold: float,
                 bin_rates: list[float] | None = None) -> None:
        if not 0.0 < p0 < p1 < 1.0:
            raise InvalidSetting(f"need 0 < p0 < p1 < 1, got p0={p0!r}, p1={p1!r}")
        if threshold <= 0:
            raise InvalidSetting(f"threshold must be positive, got {threshold!r}")
        self.p0 = float(p0)
        self.p1 = float(p1)
        self.threshold = float(threshold)
        self._w1 = max(1, round(math.log(p1 / p0) * _SCALE))
        self._w0 = min(-1, round(math.log((1.0 - p1) / (1.0 - p0)) * _SCALE))
        # A declared season: each phase bin has its own design rate (and weights).
        self.bin_rates = None if bin_rates is None else [float(p) for p in bin_rates]
        self._bin_w1 = self._bin_w0 = None
        if self.bin_rates is not None:
            b0 = np.asarray(self.bin_rates)
            b1 = np.array([alternative_rate(p) for p in self.bin_rates])
            self._bin_w1 = np.maximum(1, np.rint(np.log(b1 / b0) * _SCALE)).astype(np.int64)
            self._bin_w0 = np.minimum(-1, np.rint(np.log((1 - b1) / (1 - b0)) * _SCALE)
                                      ).astype(np.int64)
        self._h = math.ceil(threshold * _SCALE)
        self._s = 0
        self._n = 0
        self._start = 0
        self._ones = 0  # ones in the current excursion
        self._start_tag: Any = None
        self._detected = False
        self._scanned: tuple[int, tuple[int, int, int, int, Any]] | None = None

    @property
    def drift_detected(self) -> bool:
        return self._detected

    def restart(self) -> None:
        """Clear the statistic after a detection, keeping the design (no re-baselining)."""
        self._s = 0
        self._start = self._n
        self._ones = 0
        self._start_tag = None
        self._detected = False
        self._scanned = None

    def set_threshold(self, threshold: float) -> None:
        """Change the alarm level, keeping the statistic (budgets are re-split live)."""
        if threshold <= 0:
            raise InvalidSetting(f"threshold must be positive, got {threshold!r}")
        self.threshold = float(threshold)
        self._h = math.ceil(threshold * _SCALE)

    @property
    def onset(self) -> int:
        """Index (since creation) of the first item of the excursion that alarmed."""
        return self._start

    @property
    def current_rate(self) -> float:
        """Rate over the current excursion."""
        length = self._n - self._start
        return self._ones / length if length else 0.0

    @property
    def statistic(self) -> float:
        return self._s / _SCALE

    @property
    def onset_tag(self) -> Any:
        """Tag of the first item of the excursion that alarmed (see :meth:`update_many`)."""
        return self._start_tag

    def _run_binned(
        self, x: np.ndarray, n: int, tags: Sequence[Any] | None, stop: bool, bins: np.ndarray
    ) -> tuple[int, tuple[int, int, int, int, Any]]:
        """:meth:`_run` with per-bin weights: the integer Lindley recursion for a whole
        batch (cumulative sums and a running minimum; exact)."""
        assert self._bin_w1 is not None and self._bin_w0 is not None
        if n <= 0:
            return -1, (self._s, self._n, self._start, self._ones, self._start_tag)
        flags = x[:n].astype(bool)
        q = np.where(flags, self._bin_w1[bins[:n]], self._bin_w0[bins[:n]])
        c = np.cumsum(q)
        stat = c - np.minimum(np.minimum.accumulate(c), -self._s)
        alarm = -1
        if stop:
            above = np.flatnonzero(stat >= self._h)
            if len(above):
                alarm = int(above[0])
                n = alarm + 1
                stat, flags = stat[:n], flags[:n]
        last = int(stat[-1])
        zeros = np.flatnonzero(stat == 0)
        base = self._n
        start, ones, tag = self._start, self._ones, self._start_tag
        if last == 0:
            start, ones, tag = base + n, 0, None
        elif len(zeros) or self._s == 0:
            first = int(zeros[-1]) + 1 if len(zeros) else 0
            start, ones = base + first, int(np.count_nonzero(flags[first:]))
            tag = None if tags is None else tags[first]
        else:
            ones += int(np.count_nonzero(flags))
        return alarm, (last, base + n, start, ones, tag)

    def _run(
        self, x: np.ndarray, n: int, tags: Sequence[Any] | None, stop: bool,
        bins: np.ndarray | None = None,
    ) -> tuple[int, tuple[int, int, int, int, Any]]:
        """Walk x[:n] from the current state on local copies; stop at the first alarm
        if ``stop``. Returns (alarm index or -1, (s, n, start, ones, start_tag))."""
        if self.bin_rates is not None:
            if bins is None:
                raise InvalidSetting("a seasonal rate CUSUM needs each item's phase bin")
            return self._run_binned(x, n, tags, stop, bins)
        w0, w1, h = self._w0, self._w1, self._h
        s, start, ones, base, tag = self._s, self._start, self._ones, self._n, self._start_tag
        prev = -1
        for j in np.flatnonzero(x[:n]).tolist():
            zeros = j - prev - 1
            if zeros and s:
                s += zeros * w0
                if s <= 0:
                    s = 0
            if s == 0:
                start = base + j
                ones = 0
                tag = None if tags is None else tags[j]
            s += w1
            ones += 1
            if s >= h and stop:
                return j, (s, base + j + 1, start, ones, tag)
            prev = j
        zeros = n - prev - 1
        if zeros and s:
            s += zeros * w0
            if s <= 0:
                s = 0
        return -1, (s, base + n, start, ones, tag)

    def _commit(self, state: tuple[int, int, int, int, Any]) -> None:
        self._s, self._n, self._start, self._ones, self._start_tag = state
        self._detected = self._s >= self._h

    def scan(self, x: np.ndarray, limit: int, tags: Sequence[Any] | None = None,
             bins: np.ndarray | None = None) -> int:
        """Index of the first alarm in x[:limit], or -1; the state is unchanged."""
        if self._detected:
            raise DetectorMisuse("detector already fired; restart() it first")
        j, state = self._run(x, limit, tags, stop=True, bins=bins)
        self._scanned = (j + 1 if j >= 0 else limit, state)
        return j

    def advance(self, x: np.ndarray, n: int, tags: Sequence[Any] | None = None,
                bins: np.ndarray | None = None) -> None:
        """Consume x[:n] (the state after the last scan when it covers exactly n)."""
        if n <= 0:
            return
        scanned = self._scanned
        self._scanned = None
        if scanned is not None and scanned[0] == n:
            self._commit(scanned[1])
        else:
            self._commit(self._run(x, n, tags, stop=False, bins=bins)[1])

    def skip_zeros(self, n: int, bins: np.ndarray | None = None) -> None:
        """Consume ``n`` zeros at once: the same state as :meth:`advance` over them."""
        if n <= 0:
            return
        if self._detected:
            raise DetectorMisuse("detector already fired; restart() it first")
        self._scanned = None
        if self.bin_rates is not None:
            if bins is None:
                raise InvalidSetting("a seasonal rate CUSUM needs each item's phase bin")
            assert self._bin_w0 is not None
            s = self._s + int(self._bin_w0[bins[:n]].sum())
            if s <= 0:
                self._s, self._start, self._ones, self._start_tag = 0, self._n + n, 0, None
            else:
                self._s = s
        elif self._s:
            self._s = max(0, self._s + n * self._w0)
        self._n += n

    def update_many(self, x: np.ndarray, tags: Sequence[Any] | None = None) -> int:
        """Feed 0/1 items; return the index in ``x`` of the first alarm, or -1.

        ``tags`` (optional, aligned with ``x``) label the items; see :attr:`onset_tag`.
        Items after an alarm are not consumed: the caller re-baselines.
        """
        j = self.scan(x, len(x), tags)
        self.advance(x, j + 1 if j >= 0 else len(x), tags)
        return j

    def to_state(self) -> dict[str, Any]:
        return {
            "params": [self.p0, self.p1, self.threshold],
            "bins": self.bin_rates,
            "i": [self._s, self._n, self._start, self._ones, int(self._detected)],
            "tag": self._start_tag,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BernoulliCusum:
        p0, p1, threshold = state["params"]
        det = cls(float(p0), float(p1), float(threshold), state.get("bins"))
        s, n, start, ones, detected = (int(v) for v in state["i"])
        det._s, det._n, det._start, det._ones, det._detected = s, n, start, ones, bool(detected)
        det._start_tag = state["tag"]
        return det
