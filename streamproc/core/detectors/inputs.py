"""What detectors read: the inputs a monitor computes once per batch for all of them.

* :class:`Blocks`: block statistics of a numeric signal (means and spreads of
  blocks of normal scores, whitened against the reference's dependence);
* :class:`Flags`: one 0/1 item per event (a value out of range, missing, of the
  wrong type, never seen before; a wrong prediction);
* :class:`ShareBlocks`: chi-square scores of blocks of categories;
* :class:`CorrectnessBlocks`: normal scores of block means of a classifier's expected
  correctness (``estimated_accuracy``);
* :class:`LabelledItems`: labelled predictions, realised beside expected correctness
  (``calibration_check``);
* :class:`LikelihoodRatios`: each event's joint-drift log-likelihood ratio
  (``joint_drift``).

Each has ``n`` items and ``ends[i]``, the index in the monitor's segment of the event
that completes item ``i``: that is how :func:`~streamproc.core.monitors.race` lines up
detectors that read different inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..contracts import Tag

__all__ = ["Blocks", "CorrectnessBlocks", "Flags", "LabelledItems", "LikelihoodRatios",
           "ShareBlocks", "TagView"]

# The block series that the built-in CUSUMs (cusum, spread) read.
_QUANTIZED = ("z", "spread", "raw_mean", "raw_var")


class TagView:
    """Lazy ``(position, timestamp)`` tags over two aligned arrays, from ``start`` on."""

    __slots__ = ("_pos", "_ts", "_start")

    def __init__(self, pos: np.ndarray, ts: np.ndarray, start: int = 0) -> None:
        self._pos, self._ts, self._start = pos, ts, start

    def __getitem__(self, j: int) -> Tag:
        k = self._start + j
        return int(self._pos[k]), float(self._ts[k])


@dataclass(slots=True)
class Flags:
    """One 0/1 item per event of a segment; ``ends[i] == i``; ``bins``: each event's
    phase bin when a season is declared."""

    x: np.ndarray  # bool
    tags: TagView
    bins: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.x)

    @property
    def ends(self) -> np.ndarray:
        return np.arange(len(self.x))


@dataclass(slots=True)
class Blocks:
    """Block statistics of a numeric segment (see :mod:`streamproc.core.monitors.numeric`).

    ``z`` is each block's mean of whitened normal scores times sqrt(block size)
    (N(0, 1) on a stable stream), ``mean`` the same mean unscaled, ``spread`` the
    block's standard deviation standardised by the reference blocks'; ``raw_mean``
    and ``raw_var`` are the block's mean and variance in reference standard
    deviations of the raw values (for reports); ``ends[k]`` is the segment index of
    block k's last value and ``tags[k]`` the tag of its first.
    """

    z: np.ndarray
    mean: np.ndarray
    spread: np.ndarray
    raw_mean: np.ndarray
    raw_var: np.ndarray
    tags: Sequence[Tag]
    ends: np.ndarray
    # (whitened scores, positions, times) of every value, one row per block: onsets
    # within a block are estimated from them.
    values: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    _cache: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.z)

    def quantized(self, name: str) -> np.ndarray:
        """A series quantized for exact integer CUSUMs, computed once per batch (the four
        series the built-in CUSUMs read, together: one pass instead of four)."""
        q = self._cache.get(name)
        if q is None:
            from .engines.integer_cusum import quantize

            names = _QUANTIZED if name in _QUANTIZED else (name,)
            rows = quantize(np.array([getattr(self, k) for k in names]))
            self._cache.update(zip(names, rows, strict=True))
            q = self._cache[name]
        return q

    def listed(self, name: str) -> list[float]:
        """A series as a Python list, for detectors that step item by item."""
        key = "list:" + name
        out = self._cache.get(key)
        if out is None:
            out = self._cache[key] = getattr(self, name).tolist()
        return out  # type: ignore[return-value]


@dataclass(slots=True)
class ShareBlocks:
    """Blocks of categories: a normal score per block, its category counts and tags."""

    y: np.ndarray  # Wilson-Hilferty score of the block's chi-square (N(0, 1) in control)
    counts: np.ndarray  # (blocks, categories)
    tags: Sequence[Tag]
    ends: np.ndarray

    @property
    def n(self) -> int:
        return len(self.y)



class _Memo:
    """``memo``: a series computed once per batch for every detector that reads it (the
    inputs below keep it in their ``_cache`` field)."""

    __slots__ = ()
    _cache: dict[str, np.ndarray]

    def memo(self, name: str, make: Callable[[], np.ndarray]) -> np.ndarray:
        """A series computed once per batch for every detector that reads it."""
        out = self._cache.get(name)
        if out is None:
            out = self._cache[name] = make()
        return out


@dataclass(slots=True)
class CorrectnessBlocks(_Memo):
    """Blocks of predictions: ``z`` the normal score of each block's mean expected
    correctness against the reference (N(0, 1) on a stable stream), ``mean`` that mean
    (an accuracy); ``tags[k]`` the tag of block k's first prediction, ``ends[k]`` the
    segment index of its last."""

    z: np.ndarray
    mean: np.ndarray
    tags: Sequence[Tag]
    ends: np.ndarray
    _cache: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.z)


@dataclass(slots=True)
class LabelledItems(_Memo):
    """Labelled predictions, one item per event: ``x`` 1.0 where the prediction was
    right, ``c`` its expected correctness under the calibration."""

    x: np.ndarray
    c: np.ndarray
    tags: TagView
    _cache: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.x)

    @property
    def ends(self) -> np.ndarray:
        return np.arange(len(self.x))


@dataclass(slots=True)
class LikelihoodRatios(_Memo):
    """One joint-drift increment per event (the log-likelihood ratio of the estimated
    covariance against the reference's, see
    :class:`~streamproc.core.stats.JointLikelihood`)."""

    w: np.ndarray
    tags: TagView
    _cache: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.w)

    @property
    def ends(self) -> np.ndarray:
        return np.arange(len(self.w))
