"""Monitor of a categorical signal: category shares and never-seen categories.

* ``categorical``: the categories' shares in blocks of ``m`` events against the
  reference shares, by a chi-square statistic. ``m`` is chosen so that every
  tracked category expects at least 5 counts per block (the chi-square
  approximation's rule), the statistic is divided by ``1 + m / n`` (the excess
  caused by estimating the reference from ``n`` events), turned into an
  approximately N(0, 1) score by the Wilson-Hilferty cube root, and fed to a
  one-sided CUSUM calibrated like the numeric ones (:mod:`streamproc.core.detectors.categorical`).
* ``unseen_categories``: the rate of values absent from the reference, by a
  Bernoulli CUSUM whose in-control rate is the Good-Turing estimate of the unseen
  mass (the share of categories seen exactly once in the reference), bounded above.

Rare categories (share below ``min_category_share``, or beyond ``max_categories``)
are pooled into "(other)", so memory and alert size stay bounded on
high-cardinality features.

The block statistics (dispersion, season shares, normal scores) are pure functions
in :mod:`streamproc.core.stats.category_counts`; the blocks and their carry across
batches are :mod:`.categorical_pipeline`'s.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..contracts import Detection
from ..detectors import DEFAULTS, Detector, FitContext, Flags, TagView, build, detector_class
from ..settings import MonitorSettings
from ..stats import (
    DISPERSION_BLOCK,
    MAX_EXTENSION,
    OTHER,
    Season,
    dispersion,
    seasonal_shares,
    standardise_on_reference,
    tracked_shares,
)
from .alarms import apply_cooldown, make_detection
from .categorical_pipeline import SharePipeline
from .contract import ValueMonitor
from .race import race

__all__ = ["CategoricalMonitor"]

# Categories counted during a reference before new ones are only pooled: bounds memory.
_REFERENCE_CATEGORY_CAP_FACTOR = 20


class CategoricalMonitor(ValueMonitor):
    """Watch a categorical signal for changed shares and new categories.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> mon = CategoricalMonitor(MonitorSettings(reference_size=2000), "feature", "country")
    >>> mon.calibrate(1e6)
    >>> a = rng.choice(["fr", "de", "us"], 30_000, p=[0.5, 0.3, 0.2])
    >>> b = rng.choice(["fr", "de", "us"], 10_000, p=[0.3, 0.3, 0.4])
    >>> x = np.concatenate([a, b]).tolist()
    >>> pos = np.arange(len(x)); ts = pos * 1.0
    >>> [(d.detector, d.position, d.severity) for d in mon.update(x, pos, ts)]
    [('categorical', 30149, 'high')]
    """

    kind = "categorical"

    def __init__(self, settings: MonitorSettings, signal: str, feature: str | None) -> None:
        self.settings = settings
        self.signal = signal
        self.feature = feature
        self._arl = float(settings.budget.events)
        self._ref_counts: dict[str, int] = {}
        self._ref_n = 0
        self._ref_target = 0  # events the reference spans (0: one window, not yet decided)
        self._ref_blocks: list[dict[str, int]] = []  # counts per dispersion block
        self._vif = 1.0
        self._season = settings.season_for(signal, feature)
        self._window: dict[str, Any] = {}  # the reference being collected: first/last event
        self._bin_counts: list[dict[str, int]] = []  # a declared season's, per phase bin
        self._ref_span = [math.inf, -math.inf]  # first and latest event time of the reference
        self._ref: dict[str, Any] | None = None
        self._index: dict[str, int] = {}
        self._seen: set[str] = set()
        self._pipe = SharePipeline()
        self._shares: Detector | None = None
        self._unseen: Detector | None = None
        self._last_alert: dict[str, list[int]] = {}  # key -> [position, severity rank]
        self.n = 0
        self.detections = 0

    @property
    def detector_names(self) -> list[str]:
        return list(DEFAULTS["categorical"])

    @property
    def n_detectors(self) -> int:
        return len(self.detector_names)

    def calibrate(self, arl_events: float) -> None:
        self._arl = float(arl_events)
        for det in self._detectors():
            det.calibrate(self._arl)

    def _detectors(self) -> list[Detector]:
        return [d for d in (self._shares, self._unseen) if d is not None]

    def scores(self) -> dict[str, float]:
        return {d.name: s for d in self._detectors() if (s := d.score) is not None}

    @property
    def dependence(self) -> float | None:
        """The reference's variance inflation factor (1: independent), once learnt."""
        return None if self._ref is None else float(self._ref.get("vif", 1.0))

    @property
    def observations(self) -> int:
        return self.n

    @property
    def learning(self) -> bool:
        """True while the monitor collects its reference (warm-up): no detection yet."""
        return self._ref is None

    @property
    def reference_shares(self) -> dict[str, float] | None:
        if self._ref is None:
            return None
        return dict(zip(self._ref["names"], self._ref["shares"], strict=True))

    # -- update --------------------------------------------------------------------------
    def update(self, values: list[str], pos: np.ndarray, ts: np.ndarray,
               off: np.ndarray | None = None) -> list[Detection]:
        """Feed category names with their event positions and times (and source offsets,
        for the provenance of references); return detections."""
        out: list[Detection] = []
        n = len(values)
        self.n += n
        i = 0
        while i < n:
            if self._ref is None:
                start = i
                i = self._collect_reference(values, ts, i)
                self._track_window(pos, ts, off, start, i)
                continue
            hit = self._monitor(values, pos, ts, i)
            if hit is None:
                break
            j, detection = hit
            out.append(detection)
            i = j + 1
        return out

    def _track_window(self, pos: np.ndarray, ts: np.ndarray, off: np.ndarray | None,
                      start: int, end: int) -> None:
        """Remember which events form the reference (its provenance)."""
        if end <= start:
            return
        w = self._window
        if not w:
            w.update(first_position=int(pos[start]), first_event_time=float(ts[start]),
                     first_offset=-1 if off is None else int(off[start]))
        w.update(last_position=int(pos[end - 1]), last_event_time=float(ts[end - 1]),
                 last_offset=-1 if off is None else int(off[end - 1]))
        if self._ref is not None:  # the reference just completed in this range
            self._ref["window"] = {"n": self._ref["n"], **w}
            self._window = {}

    def set_window(self, window: dict[str, Any]) -> None:
        """The reference's provenance when it was handed over by a numeric monitor."""
        if self._ref is not None:
            self._ref["window"] = dict(window)

    def _collect_reference(self, values: list[str], ts: np.ndarray, i: int) -> int:
        size = self.settings.reference_size
        goal = self._ref_target or size
        season = self._season
        if season is not None:
            return self._collect_seasonal(values, ts, i, season, goal)
        take = min(goal - self._ref_n, len(values) - i)
        self._count(values[i : i + take])
        if self._ref_n == goal:
            self._window_done(goal)
        return i + take

    def _count(self, values: list[str], bins: list[int] | None = None) -> None:
        counts = self._ref_counts
        cap = _REFERENCE_CATEGORY_CAP_FACTOR * self.settings.max_categories
        at = self._ref_n
        for j, v in enumerate(values):
            if at % DISPERSION_BLOCK == 0:
                self._ref_blocks.append({})
            block = self._ref_blocks[-1]
            if v not in counts and len(counts) >= cap:
                v = OTHER
            counts[v] = counts.get(v, 0) + 1
            block[v] = block.get(v, 0) + 1
            if bins is not None:
                in_bin = self._bin_counts[bins[j]]
                in_bin[v] = in_bin.get(v, 0) + 1
            at += 1
        self._ref_n = at

    def _collect_seasonal(self, values: list[str], ts: np.ndarray, i: int, season: Any,
                          goal: int) -> int:
        """A declared season: learn over a whole season, one value at a time."""
        if not self._bin_counts:
            self._bin_counts = [{} for _ in range(season.bins)]
        bins = season.bin_of(ts[i:]).tolist()
        times = ts[i:].tolist()
        span = self._ref_span
        for j, v in enumerate(values[i:]):
            span[0] = min(span[0], times[j]) if self._ref_n == 0 else span[0]
            span[1] = max(span[1], times[j])
            self._count([v], [bins[j]])
            if self._ref_n >= goal and season.covered(
                    span[0], span[1], [sum(b.values()) for b in self._bin_counts]):
                self._ref_target = self._ref_n
                self._finish_reference()
                return i + j + 1
        return len(values)

    def _window_done(self, goal: int) -> None:
        size = self.settings.reference_size
        if self._ref_n == goal:
            if not self._ref_target:
                # Dependence seen at the block scale may hide a slower cycle the first
                # window covers only part of: learn over the longest span allowed.
                dependent = self._ref_dispersion() > 1.0
                self._ref_target = math.ceil((MAX_EXTENSION if dependent else 1.0) * size)
            if self._ref_n == self._ref_target:
                self._finish_reference()

    def _ref_dispersion(self) -> float:
        return dispersion(self._ref_counts, self._ref_blocks, self._ref_n,
                          self.settings.min_category_share)

    def _finish_reference(self) -> None:
        s = self.settings
        n = self._ref_n
        counts = self._ref_counts
        kept, names, shares, singletons, m = tracked_shares(
            counts, n, s.max_categories, s.min_category_share)
        self._index = {k: i for i, k in enumerate(kept)}
        self._seen = {k for k in counts if k != OTHER}
        vif = self._ref_dispersion() if self._ref_target > s.reference_size else 1.0
        self._vif = vif
        self._ref = {
            "n": n,
            "names": names,
            "shares": shares,
            "block": m,
            "mean_se": (m / n) / (1.0 + m / n),
            "unseen_rate": singletons / n,
            "vif": vif,
        }
        if self._season is not None:
            self._ref["season"] = self._season.to_state()
            self._ref["season_shares"] = seasonal_shares(self._bin_counts, kept, names,
                                                         np.asarray(shares))
            self._bin_counts = []
        elif vif > 1.0:
            standardise_on_reference(self._ref, kept, self._ref_blocks)
        ctx = FitContext(s, self._arl, {**self._ref, "singletons": singletons})
        self._shares = next(iter(build(["categorical"], ctx)), None)
        # A high-cardinality feature (more categories than counted) meets new ones all
        # the time: they are pooled, not tested as unseen.
        high_cardinality = OTHER in counts
        self._unseen = None if high_cardinality else next(
            iter(build(["unseen_categories"], ctx)), None)
        self._ref_counts = {}
        self._ref_blocks = []
        self._pipe.reset()

    def _monitor(
        self, values: list[str], pos: np.ndarray, ts: np.ndarray, i: int
    ) -> tuple[int, Detection] | None:
        ref = self._ref
        assert ref is not None
        seg = values[i:]
        n = len(seg)
        tags = TagView(pos, ts, i)
        groups: list[tuple[list[Detector], Any]] = []
        codes = None
        if self._shares is not None:
            index, other = self._index, len(ref["names"]) - 1
            codes = np.fromiter((index.get(v, other) for v in seg), dtype=np.int64, count=n)
            if "season_shares" in ref:
                codes += Season.from_state(ref["season"]).bin_of(ts[i:]) * len(ref["names"])
            groups.append(([self._shares], self._pipe.blocks(ref, codes, tags)))
        if self._unseen is not None:
            seen = self._seen
            flags = np.fromiter((v not in seen for v in seg), dtype=bool, count=n)
            groups.append(([self._unseen], Flags(flags, tags)))
        if not groups:
            return None
        hit = race(groups, n)
        last = n - 1 if hit is None else hit[0]
        if codes is not None:
            self._pipe.consume(ref, codes, last, tags)
        if hit is None:
            return None
        return i + last, self._detection(i + last, hit[1], pos, ts, seg[: last + 1])

    # -- detections ------------------------------------------------------------------------
    def _detection(self, j: int, fired: list[Detector], pos: np.ndarray, ts: np.ndarray,
                   seen_values: list[str]) -> Detection:
        ref = self._ref
        assert ref is not None
        primary = fired[0]
        position = int(pos[j])
        report = primary.report(position, ref)
        if primary.name == "categorical":
            stats: dict[str, Any] = {
                "reference": {"n": ref["n"],
                              "shares": dict(zip(ref["names"], ref["shares"], strict=True))},
                "current": report.current, **report.extra,
            }
        else:
            new = sorted({v for v in seen_values[-1000:] if v not in self._seen})[:10]
            stats = {
                "reference": {"n": ref["n"], "unseen_rate": ref["unseen_rate"],
                              "design_rate": report.extra["design_rate"]},
                "current": report.current,
                "examples": new,
            }
        detection = make_detection(self.signal, self.feature, fired, position, float(ts[j]),
                                   report, stats, ref.get("window", {"n": ref["n"]}),
                                   self.settings.budget, self._arl)
        # One episode per monitor: its detectors often see the same change.
        apply_cooldown(self._last_alert, detection, self.settings.cooldown_events, "monitor")
        self.detections += 1
        if detection.suppressed:  # same episode: keep the reference, restart the tests
            for det in fired:
                det.restart()
            return detection
        self._ref = None
        self._ref_n = self._ref_target = 0
        self._ref_counts = {}
        self._ref_blocks = []
        self._bin_counts = []
        self._ref_span = [math.inf, -math.inf]
        self._shares = self._unseen = None
        self._pipe.reset()
        return detection

    # -- state ---------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        carry, predicted = self._pipe.to_state()
        return {
            "arl": self._arl,
            "ref_counts": dict(self._ref_counts),
            "ref_n": self._ref_n,
            "ref_blocks": [[self._ref_target], *[dict(b) for b in self._ref_blocks]],
            "season": [list(self._ref_span) if self._ref_n and self._bin_counts else None,
                       [dict(b) for b in self._bin_counts]],
            "ref": None if self._ref is None else dict(self._ref),
            "seen": sorted(self._seen),
            "index": dict(self._index),
            "window": dict(self._window),
            "carry": carry,
            "predicted": predicted,
            "shares": None if self._shares is None else self._shares.to_state(),
            "unseen": None if self._unseen is None else self._unseen.to_state(),
            "last_alert": {k: list(v) for k, v in self._last_alert.items()},
            "i": [self.n, self.detections],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self._arl = float(state["arl"])
        self._ref_counts = {str(k): int(v) for k, v in state["ref_counts"].items()}
        self._ref_n = int(state["ref_n"])
        target, *blocks = state["ref_blocks"]
        self._ref_target = int(target[0])
        self._ref_blocks = [{str(k): int(v) for k, v in b.items()} for b in blocks]
        span, bin_counts = state["season"]
        self._ref_span = [math.inf, -math.inf] if span is None else [float(v) for v in span]
        self._bin_counts = [{str(k): int(v) for k, v in b.items()} for b in bin_counts]
        self._ref = None if state["ref"] is None else dict(state["ref"])
        self._index = {str(k): int(v) for k, v in state["index"].items()}
        self._seen = {str(v) for v in state["seen"]}
        self._window = dict(state["window"])
        self._pipe.load_state(state["carry"], state["predicted"])
        shares, unseen = state["shares"], state["unseen"]
        self._shares = None if shares is None else detector_class("categorical").from_state(shares)
        self._unseen = (None if unseen is None
                        else detector_class("unseen_categories").from_state(unseen))
        self._last_alert = {str(k): [int(p), int(r)] for k, (p, r) in state["last_alert"].items()}
        self.n, self.detections = (int(v) for v in state["i"])
