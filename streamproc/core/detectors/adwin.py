"""``adwin``: River's ADWIN on block means of whitened normal scores.

The detecting is River's (``river.drift.ADWIN``, Rust); streamproc adds what a
monitor needs around it:

* **calibration**: ``delta`` = 1 / (checks per budget) (ADWIN's bound makes the
  expected false cuts per check at most ``delta``), on inputs that are N(0, 1/b) on
  a stable stream whatever the feature's scale (River's raw-value ADWIN is not
  scale-invariant: its Bernstein term assumes values in [0, 1]);
* **state** as plain data: River's own state bytes (``AdaptiveWindowing.
  __getstate__``), base64 in the JSON snapshot, never pickle. A corrupt blob makes
  River's Rust code panic (``pyo3_runtime.PanicException``, a ``BaseException``
  that ``except Exception`` misses); it is caught here and refused like any bad
  snapshot (:class:`ValueError`);
* **onset and current mean**: River reports the kept window's width after a cut;
  the onset is the first block of that window. A mirror of ADWIN's exponential
  histogram (same bucket sizes and merges, which depend only on how many items
  arrived) keeps each bucket's first tag and raw sum, so the cut's tag and the
  window's mean in raw units are exact. Because the layout is a function of the
  count, a batch of items extends the mirror at once (:meth:`_Mirror.extend`), with
  every bucket's sum added in the order the merges would have added it.
"""

from __future__ import annotations

import base64
import struct
from itertools import compress, count
from typing import Any, ClassVar

import numpy as np
import river
from river import drift

from ..calibration import adwin_delta
from ..contracts import severity_from_shift
from ..errors import InvalidState
from ..snapshot_arrays import pack, unpack
from .contract import FitContext, Report, SequentialDetector
from .cusum import MeanCusum
from .inputs import Blocks
from .registry import register

__all__ = ["RiverADWIN", "restore_river_state"]

_MAX_BUCKETS = 5  # River's default: buckets of each size before two are merged
# Fewer items than this are inserted one by one: the batch relayout of
# _Mirror.extend costs ~20-40 us whatever the count, an insert ~1 us (measured with
# 37 to 5,000 items in the window; they break even near 64 items).
_EXTEND_MIN = 64
_PANIC = "PanicException"


def restore_river_state(helper: Any, blob: bytes, what: str) -> None:
    """``helper.__setstate__(blob)``, turning a Rust panic into a ValueError."""
    try:
        helper.__setstate__(blob)
    except Exception as exc:
        raise InvalidState(f"{what}: River refused its state bytes ({exc})") from None
    except BaseException as exc:  # noqa: B036 - pyo3 panics derive from BaseException
        if type(exc).__name__ != _PANIC:
            raise
        raise InvalidState(f"{what}: River's state bytes are corrupt ({exc})") from None


def _delta_prefix(delta: float) -> bytes:
    # River's AdaptiveWindowing serialises `delta` first, as a little-endian f64.
    return struct.pack("<d", delta)


def _layout(n: int) -> list[int]:
    """Buckets per level (level 0 first) after ``n`` inserts into an empty window:
    level 0 takes every item, and each overflow of a level (``_MAX_BUCKETS`` + 1
    buckets) passes one merged bucket up.

    >>> _layout(5), _layout(6), _layout(7), _layout(100)
    ([5], [4, 1], [5, 1], [4, 4, 4, 5, 2])
    """
    counts = []
    while n:
        merged = (n - _MAX_BUCKETS + 1) // 2 if n > _MAX_BUCKETS else 0
        counts.append(n - 2 * merged)
        n = merged
    return counts


class _Mirror:
    """ADWIN's bucket structure, holding each bucket's first tag and raw sum."""

    __slots__ = ("levels",)

    def __init__(self, levels: list[list[list[Any]]] | None = None) -> None:
        # levels[i][j] = [position, timestamp, raw sum] of the j-th oldest bucket of 2**i
        self.levels = levels if levels is not None else [[]]

    def insert(self, tag: tuple[int, float], raw: float) -> None:
        level0 = self.levels[0]
        level0.append([tag[0], tag[1], raw])
        if len(level0) > _MAX_BUCKETS:
            self.merge()

    def merge(self) -> None:
        """River's compression after an insert: two oldest buckets of a full level
        become one of the next, as far up as levels overflow."""
        i = 0
        while len(self.levels[i]) == _MAX_BUCKETS + 1:
            a, b = self.levels[i][0], self.levels[i][1]
            del self.levels[i][:2]
            if i + 1 == len(self.levels):
                self.levels.append([])
            self.levels[i + 1].append([a[0], a[1], a[2] + b[2]])
            if len(self.levels[i + 1]) <= _MAX_BUCKETS:
                break
            i += 1

    def _insert_each(self, tags: Any, raws: np.ndarray, k: int) -> None:
        for j, raw in enumerate(raws[:k].tolist()):
            self.insert(tags[j], raw)

    def width(self) -> int:
        return sum(len(buckets) << i for i, buckets in enumerate(self.levels))

    def extend(self, tags: Any, raws: np.ndarray, k: int) -> None:
        """Insert the first ``k`` items (``tags[j]``, ``raws[j]``) at once: the same
        buckets, tags and sums (bit for bit) as ``k`` calls of :meth:`insert`.

        Buckets only ever merge, so each bucket of the new layout (:func:`_layout`)
        is an old bucket, new items, or a merge of two halves, each of those again;
        a sum is taken in that order, as the merges took it.
        """
        if k <= 0:
            return
        if k < _EXTEND_MIN:  # a few items: inserting them is cheaper than the relayout
            self._insert_each(tags, raws, k)
            return
        n0 = self.width()
        if [len(b) for b in self.levels] != (_layout(n0) or [0]):
            self._insert_each(tags, raws, k)  # a window cut to another layout
            return
        old: dict[int, tuple[int, list[Any]]] = {}
        at = 0
        for i in range(len(self.levels) - 1, -1, -1):
            for bucket in self.levels[i]:
                old[at] = (1 << i, bucket)
                at += 1 << i
        new = np.asarray(raws[:k], dtype=np.float64)

        def total(a: int, size: int) -> float:
            hit = old.get(a)
            if hit is not None and hit[0] == size:
                return hit[1][2]
            if a >= n0:
                part = new[a - n0 : a - n0 + size]
                while len(part) > 1:
                    part = part[0::2] + part[1::2]
                return float(part[0])
            half = size >> 1
            return total(a, half) + total(a + half, half)

        counts = _layout(n0 + k)
        levels: list[list[list[Any]]] = [[] for _ in counts] or [[]]
        at = 0
        for i in range(len(counts) - 1, -1, -1):
            size = 1 << i
            for _ in range(counts[i]):
                first = old[at][1] if at < n0 else tags[at - n0]
                levels[i].append([first[0], first[1], total(at, size)])
                at += size
        self.levels = levels

    def cut_to(self, width: int) -> None:
        """Drop the oldest buckets until the window holds ``width`` items."""
        while self.width() > width:
            top = len(self.levels) - 1
            del self.levels[top][0]
            if not self.levels[top] and top > 0:
                self.levels.pop()

    def oldest(self) -> list[Any]:
        return self.levels[-1][0]

    def raw_total(self) -> float:
        return sum(b[2] for buckets in self.levels for b in buckets)

    def to_state(self) -> list[Any]:
        flat = [b for buckets in self.levels for b in buckets]
        return [[len(buckets) for buckets in self.levels], pack([b[0] for b in flat], "<i8"),
                pack([b[1] for b in flat]), pack([b[2] for b in flat])]

    @classmethod
    def from_state(cls, state: list[Any]) -> _Mirror:
        sizes, pos, ts, raw = state
        p, t, r = unpack(pos, "<i8").tolist(), unpack(ts).tolist(), unpack(raw).tolist()
        if sum(sizes) != len(p) or not len(p) == len(t) == len(r) or min(sizes, default=0) < 0:
            raise InvalidState("adwin: bucket mirror state is inconsistent")
        levels, at = [], 0
        for k in sizes:
            levels.append([[p[i], t[i], r[i]] for i in range(at, at + k)])
            at += k
        return cls(levels or [[]])


@register
class RiverADWIN(SequentialDetector):
    """River's ADWIN, calibrated, with exact onsets and plain-data state."""

    name: ClassVar[str] = "adwin"
    input: ClassVar[str] = "blocks"

    def __init__(self, block_size: int, clock: int, adwin: Any = None,
                 mirror: _Mirror | None = None, n: int = 0) -> None:
        self.block_size = block_size
        self.clock = clock
        self.adwin = adwin if adwin is not None else drift.ADWIN(delta=0.002, clock=clock)
        self.mirror = mirror or _Mirror()
        self._n = n  # items since the last reset
        self._report: tuple[Any, float, int] | None = None

    @classmethod
    def fit(cls, ctx: FitContext) -> RiverADWIN | None:
        """None on a reference whose level wanders (its cuts would follow the wander:
        ADWIN has no threshold to average the reference's uncertainty over)."""
        if ctx.reference.get("wander", 0.0) > 0.0:
            return None
        return cls(ctx.settings.block_size, ctx.settings.adwin_clock)

    def calibrate(self, arl_events: float) -> None:
        delta = adwin_delta(arl_events / self.block_size, self.clock)
        if delta == self.adwin.delta:
            return
        helper = self.adwin._helper
        blob = helper.__getstate__()
        old = _delta_prefix(self.adwin.delta)
        self.adwin.delta = delta
        if blob.startswith(old):
            restore_river_state(helper, _delta_prefix(delta) + blob[len(old):], "adwin")
        else:  # another River layout: start a fresh window with the new delta
            self.adwin._reset()
            self.mirror, self._n = _Mirror(), 0

    @property
    def drift_detected(self) -> bool:
        return bool(self.adwin.drift_detected)

    def restart(self) -> None:
        self.adwin._reset()
        self.adwin._drift_detected = False
        self.mirror, self._n = _Mirror(), 0

    def step(self, inp: Blocks, k: int) -> bool:
        adwin = self.adwin
        if adwin.drift_detected:  # River resets its window on the next update; so do we
            self.mirror, self._n = _Mirror(), 0
        adwin.update(float(inp.mean[k]))
        self.mirror.insert(inp.tags[k], float(inp.raw_mean[k]))
        self._n += 1
        if not adwin.drift_detected:
            return False
        self._on_drift()
        return True

    def run(self, inp: Blocks, items: int) -> int:
        """:meth:`step` over ``items`` blocks: River's update in one C-level loop up to
        its first detection, then the mirror extended by the blocks consumed."""
        adwin = self.adwin
        if adwin.drift_detected:  # what River's update does first
            adwin._reset()
            self.mirror, self._n = _Mirror(), 0
        means = inp.listed("mean")
        updates = map(adwin._helper.update, means if items == len(means) else means[:items])
        hit = next(compress(count(), updates), -1)  # stops at the first detection
        used = items if hit < 0 else hit + 1
        self.mirror.extend(inp.tags, inp.raw_mean, used)
        self._n += used
        if hit < 0:
            return -1
        adwin._drift_detected = True
        self._on_drift()
        return hit

    def _on_drift(self) -> None:
        width = int(self.adwin.width)
        self.mirror.cut_to(width)
        oldest = self.mirror.oldest()
        self._report = ((int(oldest[0]), float(oldest[1])), self.mirror.raw_total() / width,
                        width)

    def report(self, position: int, reference: dict[str, Any]) -> Report:
        assert self._report is not None
        onset, shift, width = self._report
        return Report(
            onset=onset,
            direction="up" if shift >= 0 else "down",
            severity=severity_from_shift(shift),
            current={"mean": reference["mean"] + reference["sd"] * shift,
                     "n": width * self.block_size},
            extra={"shift_sd": shift},
        )

    def params(self) -> dict[str, Any]:
        return {"implementation": f"river.drift.ADWIN (river {river.__version__})",
                "block_size": self.block_size, "delta": self.adwin.delta, "clock": self.clock}

    @property
    def recent_mean(self) -> float | None:
        """Mean of the adaptive window in reference sd of the raw values (None: empty)."""
        width = int(self.adwin.width)
        return self.mirror.raw_total() / width if width and self._n else None

    def to_state(self) -> dict[str, Any]:
        blob = self.adwin._helper.__getstate__()
        return {
            "params": [self.block_size, self.clock, self.adwin.delta],
            "river": base64.b64encode(blob).decode("ascii"),
            "detected": int(bool(self.adwin.drift_detected)),
            "mirror": self.mirror.to_state(),
            "n": self._n,
            "report": None if self._report is None else [list(self._report[0]),
                                                         *self._report[1:]],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RiverADWIN:
        b, clock, delta = state["params"]
        adwin = drift.ADWIN(delta=float(delta), clock=int(clock))
        try:
            blob = base64.b64decode(state["river"], validate=True)
        except (ValueError, TypeError):
            raise InvalidState("adwin: River state is not base64") from None
        restore_river_state(adwin._helper, blob, "adwin")
        adwin._drift_detected = bool(state["detected"])
        det = cls(int(b), int(clock), adwin, _Mirror.from_state(state["mirror"]),
                  int(state["n"]))
        rep = state["report"]
        if rep is not None:
            (p, t), shift, width = rep
            det._report = ((int(p), float(t)), float(shift), int(width))
        return det

    @classmethod
    def describe(cls, statistics: dict[str, Any], direction: str) -> str:
        return MeanCusum.describe(statistics, direction)
