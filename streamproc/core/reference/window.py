"""The reference window of a numeric monitor: which values its reference is learnt
from (see :class:`ReferenceWindow`; :mod:`.numeric` learns from them)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InvalidState
from ..snapshot_arrays import pack, unpack
from ..stats import MAX_EXTENSION, MIN_BIN_EVENTS, P_MAX, Season

__all__ = ["ReferenceWindow"]


class ReferenceWindow:
    """Collects a numeric reference: a first window, extended for a dependent stream,
    and over at least one whole season when one is declared.

    The extension keeps runs of consecutive values spread over its whole span (the
    dependence model needs consecutive values; the sketch needs every phase): the
    first ``run_length`` values of every ``spacing`` values, with the spacing doubled
    (every other run dropped) when the runs would hold more than MAX_EXTENSION
    windows. With a season, every value's phase bin adds to its bin's count, sum and
    sum of squares (in arrival order: exact whatever the batching).

    Batch-invariant: what is kept depends only on the values' order.
    """

    def __init__(self, size: int, season: Season | None = None) -> None:
        self.size = size
        self.season = season
        self.values: list[float] = []
        self.value_phases: list[float] = []
        self.value_ts: list[float] = []  # with a season: the first window's event times
        self.runs: list[list[float]] = []
        self.run_phases: list[list[float]] = []
        self.tail: list[float] = []  # the last P_MAX values: the whitening's first history
        self.tail_phases: list[float] = []
        self.first: tuple[int, float] = (0, 0.0)
        self.last: tuple[int, float] = (0, 0.0)
        self.offsets = [-1, -1]  # source offsets of the first and last value (-1: unknown)
        self.latest = -math.inf  # latest event time seen (times may arrive out of order)
        self.extremes: tuple[float, float] = (math.inf, -math.inf)
        self.target = 0  # events the reference spans at least (set after the first window)
        self.step = 1  # runs keep 1 / step of the extension's values
        self.spacing = size
        self.seen = 0
        bins = season.bins if season is not None else 0
        self.bin_n = [0] * bins
        self.bin_sum = [0.0] * bins
        self.bin_sq = [0.0] * bins

    @property
    def window_full(self) -> bool:
        return len(self.values) == self.size

    @property
    def complete(self) -> bool:
        if not self.target or self.seen < self.target:
            return False
        return self.season is None or self.season.covered(self.first[1], self.latest,
                                                           self.bin_n)

    def add(self, x: np.ndarray, pos: np.ndarray, ts: np.ndarray, i: int,
            off: np.ndarray | None = None, until: int | None = None) -> int:
        """Take values from x[i:] until the window (or the whole reference) is full, or
        until it has seen ``until`` values; the index of the first value not taken."""
        if self.seen == 0:
            self.first = (int(pos[i]), float(ts[i]))
            self.latest = float(ts[i])
            self.offsets[0] = -1 if off is None else int(off[i])
        phases = None if self.season is None else self.season.phase_of(ts[i:])
        bins = None if phases is None else np.minimum(phases.astype(np.int64),
                                                      self.season.bins - 1)  # type: ignore[union-attr]
        if not self.window_full:
            take = min(self.size - len(self.values), len(x) - i)
        else:
            take = self._until_complete(ts[i:], bins)
        if until is not None:
            take = max(0, min(take, until - self.seen))
        chunk = x[i : i + take]
        if not take:
            return i
        b = None if bins is None else bins[:take]
        ph = None if phases is None else phases[:take]
        if not self.window_full:
            self.values.extend(chunk.tolist())
            if ph is not None:
                self.value_phases.extend(ph.tolist())
                self.value_ts.extend(ts[i : i + take].tolist())
        else:
            self._keep_runs(chunk, ph)
        if b is not None:
            self._accumulate(chunk, b)
        self.tail = (self.tail + chunk[-P_MAX:].tolist())[-P_MAX:]
        if ph is not None:
            self.tail_phases = (self.tail_phases + ph[-P_MAX:].tolist())[-P_MAX:]
        lo, hi = self.extremes
        self.extremes = (min(lo, float(chunk.min())), max(hi, float(chunk.max())))
        self.latest = max(self.latest, float(ts[i : i + take].max()))
        self.seen += take
        self.last = (int(pos[i + take - 1]), float(ts[i + take - 1]))
        self.offsets[1] = -1 if off is None else int(off[i + take - 1])
        return i + take

    def prefix(self) -> ReferenceWindow:
        """A copy of what is collected so far, complete as it stands: a provisional
        reference is learnt from it while this one keeps collecting."""
        out = ReferenceWindow(self.size, self.season)
        out.values, out.value_phases, out.value_ts = (list(self.values),
                                                      list(self.value_phases),
                                                      list(self.value_ts))
        out.runs = [list(r) for r in self.runs]
        out.run_phases = [list(r) for r in self.run_phases]
        out.tail, out.tail_phases = list(self.tail), list(self.tail_phases)
        out.first, out.last, out.offsets = self.first, self.last, list(self.offsets)
        out.latest, out.extremes, out.seen = self.latest, self.extremes, self.seen
        out.step, out.spacing = self.step, self.spacing
        out.bin_n, out.bin_sum, out.bin_sq = list(self.bin_n), list(self.bin_sum), list(self.bin_sq)
        out.target = self.seen
        return out

    def window_info(self) -> dict[str, Any]:
        """Which events formed the reference (its provenance)."""
        return {"n": self.seen, "first_position": self.first[0], "last_position": self.last[0],
                "first_event_time": self.first[1], "last_event_time": self.last[1],
                "first_offset": self.offsets[0], "last_offset": self.offsets[1]}

    def _until_complete(self, ts: np.ndarray, bins: np.ndarray | None) -> int:
        """How many of these values complete the reference (all of them if they don't)."""
        need = max(self.target - self.seen, 0)
        if self.season is None or not len(ts):
            return min(need, len(ts)) if self.season is None else need
        season = self.season
        latest = np.maximum.accumulate(np.maximum(ts, self.latest))
        start = self.first[1]
        whole = np.searchsorted(latest >= start + season.period, True)
        longest = np.searchsorted(latest >= start + 3 * season.period, True)
        filled = 0
        assert bins is not None
        for b, have in enumerate(self.bin_n):
            short = MIN_BIN_EVENTS - have
            if short > 0:
                hits = np.flatnonzero(bins == b)
                filled = max(filled, int(hits[short - 1]) + 1 if len(hits) >= short
                             else len(ts) + 1)
        done = min(max(int(whole) + 1, filled), int(longest) + 1)
        return min(max(done, need), len(ts))

    def _accumulate(self, chunk: np.ndarray, bins: np.ndarray) -> None:
        n = np.asarray(self.bin_n, dtype=np.int64)
        total = np.asarray(self.bin_sum)
        sq = np.asarray(self.bin_sq)
        np.add.at(n, bins, 1)
        np.add.at(total, bins, chunk)
        np.add.at(sq, bins, chunk * chunk)
        self.bin_n, self.bin_sum, self.bin_sq = n.tolist(), total.tolist(), sq.tolist()

    @property
    def run_length(self) -> int:
        return max(self.size // self.step, 4 * P_MAX)

    def _keep_runs(self, chunk: np.ndarray, phases: np.ndarray | None) -> None:
        j = self.seen - self.size  # extension index of chunk[0]
        run = self.run_length
        at = 0
        while at < len(chunk):
            phase = j % self.spacing
            if phase < run:
                keep = min(run - phase, len(chunk) - at)
                if phase == 0:
                    self.runs.append([])
                    self.run_phases.append([])
                self.runs[-1].extend(chunk[at : at + keep].tolist())
                if phases is not None:
                    self.run_phases[-1].extend(phases[at : at + keep].tolist())
                at, j = at + keep, j + keep
                if phase + keep == run and len(self.runs) * run > MAX_EXTENSION * self.size:
                    self._thin()
            else:
                skip = min(self.spacing - phase, len(chunk) - at)
                at, j = at + skip, j + skip

    def _thin(self) -> None:
        """Keep every other run and double the spacing (a long seasonal reference)."""
        self.runs = self.runs[::2]
        self.run_phases = self.run_phases[::2]
        self.spacing *= 2

    @property
    def sample(self) -> list[float]:
        return [v for run in self.runs for v in run]

    def extend(self, windows: float) -> None:
        """After the first window: span ``windows`` windows (1: complete now)."""
        self.step = max(1, math.ceil(windows))
        self.target = max(self.size, math.ceil(windows * self.size))

    def profile(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Per-bin reference mean and standard deviation (the whole reference's for a
        bin with too few events or no spread), or None without a season."""
        if self.season is None:
            return None
        n = np.asarray(self.bin_n, dtype=np.float64)
        total, sq = np.asarray(self.bin_sum), np.asarray(self.bin_sq)
        all_n = float(n.sum())
        mean_all = float(total.sum()) / all_n
        var_all = max(float(sq.sum()) / all_n - mean_all * mean_all, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 0, total / np.maximum(n, 1.0), mean_all)
            var = np.where(n > 1, (sq / np.maximum(n, 1.0) - mean * mean)
                           * n / np.maximum(n - 1.0, 1.0), var_all)
        sd = np.sqrt(np.maximum(var, 0.0))
        ok = (n >= MIN_BIN_EVENTS) & (sd > 1e-12 * (np.abs(mean) + math.sqrt(var_all)))
        return np.where(ok, mean, mean_all), np.where(ok, sd, math.sqrt(var_all) or 1.0)

    def deseasonalised(self) -> ReferenceWindow:
        """The same reference with every kept value standardised by its bin's profile."""
        prof = self.profile()
        if prof is None:
            return self
        mean, sd = prof
        season = self.season
        assert season is not None

        def standardised(values: list[float], phases: list[float]) -> list[float]:
            at = np.asarray(phases)
            return ((np.asarray(values) - season.interpolate(mean, at))
                    / season.interpolate(sd, at)).tolist()

        out = ReferenceWindow(self.size)
        out.values = standardised(self.values, self.value_phases)
        out.runs = [standardised(r, p) for r, p in zip(self.runs, self.run_phases, strict=True)]
        kept = out.values + out.sample
        out.extremes = (min(kept), max(kept))
        out.first, out.last, out.seen, out.target = self.first, self.last, self.seen, self.target
        out.offsets = list(self.offsets)
        out.tail = standardised(self.tail, self.tail_phases)
        return out

    def to_state(self) -> dict[str, Any]:
        return {"values": pack(self.values), "value_phases": pack(self.value_phases),
                "value_ts": pack(self.value_ts),
                "runs": [pack(r) for r in self.runs],
                "run_phases": [pack(p) for p in self.run_phases],
                "tail": list(self.tail), "tail_phases": list(self.tail_phases),
                "first": list(self.first), "last": list(self.last), "offsets": self.offsets,
                "latest": None if self.seen == 0 else self.latest,
                "extremes": [self.extremes[0], self.extremes[1]] if self.seen else None,
                "season": None if self.season is None else self.season.to_state(),
                "bins": [self.bin_n, self.bin_sum, self.bin_sq],
                "i": [self.target, self.step, self.spacing, self.seen]}

    @classmethod
    def from_state(cls, size: int, state: dict[str, Any]) -> ReferenceWindow:
        w = cls(size, Season.from_state(state["season"]))
        w.values = unpack(state["values"]).tolist()
        w.value_phases = unpack(state["value_phases"]).tolist()
        w.value_ts = unpack(state["value_ts"]).tolist()
        w.runs = [unpack(run).tolist() for run in state["runs"]]
        w.run_phases = [unpack(p).tolist() for p in state["run_phases"]]
        w.tail = [float(v) for v in state["tail"]]
        w.tail_phases = [float(v) for v in state["tail_phases"]]
        w.first = (int(state["first"][0]), float(state["first"][1]))
        w.last = (int(state["last"][0]), float(state["last"][1]))
        w.offsets = [int(v) for v in state["offsets"]]
        w.latest = -math.inf if state["latest"] is None else float(state["latest"])
        ext = state["extremes"]
        if ext is not None:
            w.extremes = (float(ext[0]), float(ext[1]))
        n, total, sq = state["bins"]
        w.bin_n, w.bin_sum, w.bin_sq = ([int(v) for v in n], [float(v) for v in total],
                                        [float(v) for v in sq])
        w.target, w.step, w.spacing, w.seen = (int(v) for v in state["i"])
        if len(w.values) > size or w.seen < len(w.values):
            raise InvalidState("reference window state is inconsistent")
        return w
