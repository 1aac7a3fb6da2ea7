"""The detector contract: what every detector of a monitor (built-in or River's) does.

A monitor turns its values into one kind of input, computed once per batch and
shared by all of its detectors:

* :class:`Blocks`: block statistics of a numeric signal (means and spreads of
  blocks of normal scores, whitened against the reference's dependence);
* :class:`Flags`: one 0/1 item per event (a value out of range, missing, of the
  wrong type, never seen before; a wrong prediction);
* :class:`ShareBlocks`: chi-square scores of blocks of categories.

Every detector has a registry name (the ``detector`` of its alerts), can be
calibrated to a number of events between false alarms, finds its first alarm in a
batch, reports what it found, and saves its state as plain data. Two flavours:

* a :class:`VectorDetector` scans a whole batch without changing its state, then
  advances by exactly as many items as the monitor tells it (the earliest alarm of
  any of its detectors wins, and every detector consumes exactly the items up to
  it): batch-at-a-time numpy, no Python loop per item;
* a :class:`SequentialDetector` (River's) takes one item at a time; the monitor
  steps all of them in lockstep, after the vector detectors have set the limit.

:func:`race` runs one monitor's detectors over a batch by these rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..detection import Detection

__all__ = [
    "Blocks",
    "Detector",
    "FitContext",
    "Flags",
    "Report",
    "SequentialDetector",
    "ShareBlocks",
    "TagView",
    "VectorDetector",
    "detection",
    "race",
]

Tag = tuple[int, float]  # (position of the event in its model version, event time)
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
    """Block statistics of a numeric segment (see :mod:`streamproc.core.numeric`).

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
            from ..cusum import quantize

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


@dataclass
class FitContext:
    """Everything a detector may be fitted from when its monitor's reference is complete.

    ``reference`` holds what the monitor learnt, by input: for ``blocks`` the block
    statistics' sampling errors and in-control moments (``mean_se``, ``scale_se``,
    ``block_sd_mean``, ``block_sd_sd``, ``spread_mean_se``, ``spread_scale_se``) and
    ``n``; for ``flags`` the counts ``n``, ``ones``, ``singletons`` and ``factor``
    (the variance inflation of the flags' walk, 1 when independent); for ``shares``
    the ``block`` size and ``mean_se``. ``sample`` is the reference's own detector
    inputs (for calibration by replay) and ``spec`` a configured River detector.
    """

    settings: Any
    arl_events: float
    reference: dict[str, Any]
    sample: np.ndarray | None = None
    spec: Any = None


@dataclass(frozen=True)
class Report:
    """What a detector says about the change it found."""

    onset: Tag
    direction: str
    severity: str
    current: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


class Detector:
    """Base of every detector. Subclasses register with :func:`~.register`."""

    name: ClassVar[str]
    #: Which input the detector reads: "blocks", "flags" or "shares".
    input: ClassVar[str]
    #: Bumped when the detector's state layout or arithmetic changes: snapshots
    #: written by another version are refused (monitors re-learn).
    version: ClassVar[int] = 1
    sequential: ClassVar[bool] = False

    @classmethod
    def fit(cls, ctx: FitContext) -> Detector | None:
        """A detector for a completed reference (None: nothing this detector can test)."""
        raise NotImplementedError

    def calibrate(self, arl_events: float) -> None:
        """Use ``arl_events`` events between false alarms on a stable stream."""
        raise NotImplementedError

    @property
    def drift_detected(self) -> bool:
        raise NotImplementedError

    def restart(self) -> None:
        """Start afresh after a detection, keeping the design (no re-baselining)."""
        raise NotImplementedError

    def report(self, position: int, reference: dict[str, Any]) -> Report:
        """Onset (None: not estimated), direction, severity and current statistics of
        the alarm at event ``position``; ``reference`` is the monitor's reference."""
        raise NotImplementedError

    @property
    def score(self) -> float | None:
        """How close to alarming: statistic / threshold (1.0 alarms); None if unknown."""
        return None

    def params(self) -> dict[str, Any]:
        """The parameters in force (for alert provenance)."""
        return {}

    def to_state(self) -> Any:
        raise NotImplementedError

    @classmethod
    def from_state(cls, state: Any) -> Detector:
        raise NotImplementedError

    @classmethod
    def describe(cls, statistics: dict[str, Any], direction: str) -> str:
        """The change in a few words, for an alert's summary."""
        return "changed"


class VectorDetector(Detector):
    def scan(self, inp: Any, limit: int) -> int:
        """Index of the first alarm among the first ``limit`` items, or -1 (no change)."""
        raise NotImplementedError

    def advance(self, inp: Any, n: int) -> None:
        """Consume the first ``n`` items (after a scan of at least ``n`` of them)."""
        raise NotImplementedError


class SequentialDetector(Detector):
    sequential = True

    def step(self, inp: Any, k: int) -> bool:
        """Consume item ``k``; True if it alarmed."""
        raise NotImplementedError

    def run(self, inp: Any, items: int) -> int:
        """Consume items up to ``items`` (exclusive), stopping at the first alarm:
        its index, or -1. A detector may override it with a faster loop that steps
        exactly as :meth:`step` does."""
        for k in range(items):
            if self.step(inp, k):
                return k
        return -1


def race(
    groups: Sequence[tuple[Sequence[Detector], Any]], n_events: int
) -> tuple[int, list[Detector]] | None:
    """Run a monitor's detectors over one segment; the earliest alarm wins.

    ``groups`` pairs detectors with the input they read; ``inp.ends[i]`` is the
    segment index of the event that completes item i of an input. Vector detectors
    scan first, each bounded by the earliest alarm so far; sequential detectors
    (one group at most) then step in lockstep up to that bound. Returns
    ``(event index, detectors that alarmed there)`` or None; either way every
    detector has consumed exactly the items completed by that event (or all).
    """
    limit = n_events  # exclusive bound on the winning event index
    winner: int | None = None
    for dets, inp in groups:
        items = int(np.searchsorted(inp.ends, limit, side="left"))
        for det in dets:
            if det.sequential:
                continue
            j = det.scan(inp, items)  # type: ignore[attr-defined]
            if j >= 0 and inp.ends[j] < limit:
                # An alarm on the segment's last event leaves limit == n_events: the
                # winner is recorded here, not inferred from limit.
                limit = int(inp.ends[j]) + 1
                winner = limit - 1
                items = j + 1
    for dets, inp in groups:
        seq = [d for d in dets if d.sequential]
        if not seq:
            continue
        items = int(np.searchsorted(inp.ends, limit, side="left"))
        if len(seq) == 1:  # the usual case: one loop inside the detector
            k = seq[0].run(inp, items)  # type: ignore[attr-defined]
            if k >= 0:
                winner = int(inp.ends[k])
            continue
        for k in range(items):
            fired = False
            for det in seq:
                fired |= det.step(inp, k)  # type: ignore[attr-defined]
            if fired:
                winner = int(inp.ends[k])
                break
    for dets, inp in groups:
        consumed = inp.n if winner is None else int(
            np.searchsorted(inp.ends, winner, side="right"))
        for det in dets:
            if not det.sequential:
                det.advance(inp, consumed)  # type: ignore[attr-defined]
    if winner is None:
        return None
    return winner, [d for dets, _ in groups for d in dets if d.drift_detected]


def detection(
    signal: str, feature: str | None, fired: Sequence[Detector], position: int,
    timestamp: float, report: Report, stats: dict[str, Any], window: dict[str, Any],
    budget: Any, arl_events: float,
) -> Detection:
    """The Detection of an alarm: named after the first detector that fired, with the
    others in its statistics, and its provenance: the reference ``window`` it was
    judged against, the detector's parameters and the false-alarm budget in force."""
    onset = report.onset or (position, timestamp)
    if len(fired) > 1:
        stats["detectors_fired"] = [d.name for d in fired]
    provenance = {
        "reference": window,
        "detector": {"name": fired[0].name, **fired[0].params()},
        "false_alarm_budget": {"events": float(budget.events), "scope": budget.scope,
                               "detector_events": float(arl_events)},
    }
    return Detection(
        signal=signal, feature=feature, detector=fired[0].name, position=position,
        timestamp=timestamp, onset_position=int(onset[0]), onset_timestamp=float(onset[1]),
        direction=report.direction, severity=report.severity, statistics=stats,
        provenance=provenance,
    )
