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
    MAX_EXTENSION,
    OTHER,
    Season,
    seasonal_shares,
    standardise_on_reference,
    tracked_shares,
)
from .alarms import apply_cooldown, make_detection
from .categorical_pipeline import SharePipeline
from .categorical_reference import CategoryCounts
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
        self._counts = CategoryCounts(_REFERENCE_CATEGORY_CAP_FACTOR * settings.max_categories)
        self._ref_target = 0  # events the reference spans (0: one window, not yet decided)
        self._vif = 1.0
        self._season = settings.season_for(signal, feature)
        self._window: dict[str, Any] = {}  # the reference being collected: first/last event
        self._ref: dict[str, Any] | None = None
        self._final = False  # the reference is complete (else it is refined meanwhile)
        self._detectable_from: int | None = None
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
    def stage(self) -> str:
        """``learning``, ``refining`` (a dependent stream: detecting against its first
        window while its longer reference is learnt) or ``detecting``."""
        if self._ref is None:
            return "learning"
        return "detecting" if self._final else "refining"

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
            if not self._final:
                start = i
                if self._ref is not None:  # refining: test before learning from them
                    end = min(n, i + self._ref_target - self._counts.n)
                    resume = self._test(values[:end], pos, ts, i, out)
                    if resume is not None:  # re-baselined: the counts are dropped
                        i = resume
                        continue
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

    def _test(self, values: list[str], pos: np.ndarray, ts: np.ndarray, i: int,
              out: list[Detection]) -> int | None:
        """Test values[i:]; the index to resume from after a detection that re-baselined,
        or None once they are consumed."""
        while i < len(values):
            hit = self._monitor(values, pos, ts, i)
            if hit is None:
                return None
            j, detection = hit
            out.append(detection)
            if not detection.suppressed:
                return j + 1
            i = j + 1
        return None

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
        if self._ref is not None and "window" not in self._ref:  # made in this range
            self._ref["window"] = {"n": self._ref["n"], **w}
            if self._detectable_from is None:
                self._detectable_from = int(w["last_position"]) + 1
        if self._final:
            self._window = {}

    def set_window(self, window: dict[str, Any]) -> None:
        """The reference's provenance when it was handed over by a numeric monitor."""
        if self._ref is not None:
            self._ref["window"] = dict(window)
            self._detectable_from = int(window["last_position"]) + 1

    def _collect_reference(self, values: list[str], ts: np.ndarray, i: int) -> int:
        size = self.settings.reference_size
        goal = self._ref_target or size
        season = self._season
        if season is not None:
            last = self._counts.count_seasonal(values, ts, i, season, goal)
            if last is None:
                return len(values)
            self._ref_target = self._counts.n
            self._finish_reference(final=True)
            return last + 1
        take = min(goal - self._counts.n, len(values) - i)
        self._counts.count(values[i : i + take])
        if self._counts.n == goal:
            self._window_done(goal)
        return i + take

    def _window_done(self, goal: int) -> None:
        size = self.settings.reference_size
        if self._counts.n == goal:
            if not self._ref_target:
                # Dependence seen at the block scale may hide a slower cycle the first
                # window covers only part of: learn over the longest span allowed.
                dependent = self._counts.dispersion(self.settings.min_category_share) > 1.0
                self._ref_target = math.ceil((MAX_EXTENSION if dependent else 1.0) * size)
                if dependent:  # detect against the first window meanwhile
                    self._finish_reference(final=False)
            if self._counts.n == self._ref_target:
                self._finish_reference(final=True)

    def _finish_reference(self, final: bool) -> None:
        """Learn the reference counted so far: the complete one (``final``), or the
        first window of a dependent stream, detected against while it is refined."""
        self._final = final
        s = self.settings
        n = self._counts.n
        counts = self._counts.counts
        kept, names, shares, singletons, m = tracked_shares(
            counts, n, s.max_categories, s.min_category_share)
        self._index = {k: i for i, k in enumerate(kept)}
        self._seen = {k for k in counts if k != OTHER}
        dependent = self._ref_target > s.reference_size
        vif = self._counts.dispersion(s.min_category_share) if dependent else 1.0
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
            self._ref["season_shares"] = seasonal_shares(self._counts.bins, kept, names,
                                                         np.asarray(shares))
            self._counts.bins = []
        elif vif > 1.0:
            standardise_on_reference(self._ref, kept, self._counts.blocks)
        ctx = FitContext(s, self._arl, {**self._ref, "singletons": singletons})
        self._shares = next(iter(build(["categorical"], ctx)), None)
        # A high-cardinality feature (more categories than counted) meets new ones all
        # the time: they are pooled, not tested as unseen.
        high_cardinality = OTHER in counts
        self._unseen = None if high_cardinality else next(
            iter(build(["unseen_categories"], ctx)), None)
        if final:
            self._counts.counts = {}
            self._counts.blocks = []
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
        window = ref.get("window", {"n": ref["n"]})
        if not self._final:  # the reference was still being refined: say so
            learnt = {"stage": "refining", "target": self._ref_target}
            stats["reference"].update(learnt)
            window = {**window, **learnt}
        detection = make_detection(self.signal, self.feature, fired, position, float(ts[j]),
                                   report, stats, window, self.settings.budget, self._arl)
        # One episode per monitor: its detectors often see the same change.
        apply_cooldown(self._last_alert, detection, self.settings.cooldown_events, "monitor")
        self.detections += 1
        if detection.suppressed:  # same episode: keep the reference, restart the tests
            for det in fired:
                det.restart()
            return detection
        self._ref = None
        self._ref_target = 0
        self._final = False
        self._counts = CategoryCounts(self._counts.cap)
        self._shares = self._unseen = None
        self._pipe.reset()
        return detection

    # -- state ---------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        carry, predicted = self._pipe.to_state()
        return {
            "arl": self._arl,
            "ref_counts": dict(self._counts.counts),
            "ref_n": self._counts.n,
            "ref_blocks": [[self._ref_target], *[dict(b) for b in self._counts.blocks]],
            "season": [list(self._counts.span) if self._counts.n and self._counts.bins else None,
                       [dict(b) for b in self._counts.bins]],
            "ref": None if self._ref is None else dict(self._ref),
            "final": [self._final, self._detectable_from],
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
        self._counts.counts = {str(k): int(v) for k, v in state["ref_counts"].items()}
        self._counts.n = int(state["ref_n"])
        target, *blocks = state["ref_blocks"]
        self._ref_target = int(target[0])
        self._counts.blocks = [{str(k): int(v) for k, v in b.items()} for b in blocks]
        span, bin_counts = state["season"]
        self._counts.span = [math.inf, -math.inf] if span is None else [float(v) for v in span]
        self._counts.bins = [{str(k): int(v) for k, v in b.items()} for b in bin_counts]
        self._ref = None if state["ref"] is None else dict(state["ref"])
        final, since = state["final"]
        self._final, self._detectable_from = bool(final), None if since is None else int(since)
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
