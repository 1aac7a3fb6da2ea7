"""Rows of a batch grouped by key: the one grouping the units share."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

__all__ = ["group_rows"]


def group_rows(keys: Sequence[Hashable]) -> dict[Any, np.ndarray]:
    """Key -> its rows, in order of first appearance: each row coded by its key's first
    row (one C-level pass), then one stable sort.

    >>> {k: v.tolist() for k, v in group_rows(["a", "b", "a"]).items()}
    {'a': [0, 2], 'b': [1]}
    """
    n = len(keys)
    first: dict[Any, int] = {}
    codes = np.fromiter(map(first.setdefault, keys, range(n)), np.int64, n)
    if len(first) <= 1:
        return {key: np.arange(n, dtype=np.int64) for key in first}
    order = np.argsort(codes, kind="stable")
    parts = np.split(order, np.flatnonzero(np.diff(codes[order])) + 1)
    return {keys[int(part[0])]: part for part in parts}
