"""Bounded, binned series of a backtest's signals, kept for the plots."""

from __future__ import annotations

from typing import Any

import numpy as np

from .core import category_name

__all__ = ["Binned", "Curves", "track"]


class Binned:
    """Per-bin count, mean and sd of a signal along event positions (bounded memory).

    Bins start one event wide and double whenever there would be more than ``cap``.
    """

    def __init__(self, cap: int = 400) -> None:
        self.cap = cap
        self.width = 1
        self.count = np.zeros(0)
        self.total = np.zeros(0)
        self.squares = np.zeros(0)

    def add(self, pos: np.ndarray, values: np.ndarray) -> None:
        if not len(pos):
            return
        while int(pos.max()) // self.width >= 2 * self.cap:
            self._coarsen()
        idx = pos // self.width
        size = max(len(self.count), int(idx.max()) + 1)
        for name in ("count", "total", "squares"):
            arr = getattr(self, name)
            if len(arr) < size:
                setattr(self, name, np.concatenate([arr, np.zeros(size - len(arr))]))
        self.count += np.bincount(idx, minlength=size)
        self.total += np.bincount(idx, weights=values, minlength=size)
        self.squares += np.bincount(idx, weights=values * values, minlength=size)

    def _coarsen(self) -> None:
        for name in ("count", "total", "squares"):
            arr = getattr(self, name)
            if len(arr) % 2:
                arr = np.concatenate([arr, [0.0]])
            setattr(self, name, arr[0::2] + arr[1::2])
        self.width *= 2

    def curve(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Bin centres, means and standard deviations of the non-empty bins."""
        ok = self.count > 0
        mean = self.total[ok] / self.count[ok]
        sd = np.sqrt(np.maximum(self.squares[ok] / self.count[ok] - mean * mean, 0.0))
        centres = (np.flatnonzero(ok) + 0.5) * self.width
        return centres, mean, sd


# Categories drawn per categorical signal: the first ones seen, enough to show a shift.
_PLOTTED_CATEGORIES = 5
Curves = dict[str, Binned]  # label -> binned series


def track(curves: dict[tuple[str, str, str], Curves], key: tuple[str, str, str],
           pos: np.ndarray, column: list[Any], label: str = "value") -> None:
    """Numbers become one curve (``label``); categories become one share curve each."""
    numbers = np.array([v if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan
                        for v in column], dtype=np.float64)
    ok = np.isfinite(numbers)
    named = curves.setdefault(key, {})
    if ok.sum() * 2 >= len(column) and ok.any():
        named.setdefault(label, Binned()).add(pos[ok], numbers[ok])
        return
    cats = [None if v is None else category_name(v) for v in column]
    for c in dict.fromkeys(v for v in cats if v is not None):
        if c in named or len(named) < _PLOTTED_CATEGORIES:
            share = np.fromiter((v == c for v in cats), dtype=np.float64, count=len(cats))
            named.setdefault(c, Binned()).add(pos, share)
