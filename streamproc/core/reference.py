"""What a numeric monitor learns from its reference window.

:class:`ReferenceWindow` collects it: the first ``reference_size`` values, and when
those show dependence (:mod:`.dependence`), more, up to ``VIF`` times as many, of
which every k-th is kept, so that a slow cycle or a wandering level is covered.
:class:`NumericReference` is what is learnt from it:

* the raw mean, standard deviation and range (for reports and the range test);
* the normal-score sketch (:mod:`.scores`): every value is mapped to the normal
  quantile of its place in the reference distribution, so skewed and heavy-tailed
  features are tested like N(0, 1) ones;
* the dependence model of the scores, which whitens them so that the block tests'
  thresholds hold on autocorrelated streams too (see :mod:`.dependence`);
* the in-control behaviour of the block statistics of the whitened scores (the
  spread test is standardised by it) and the sampling errors of all of these,
  which the thresholds average over.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .blocks import block_stats
from .dependence import MAX_EXTENSION, P_MAX, ARFit, fit_ar, fit_ar_segments
from .packing import pack, unpack
from .scores import NormalScores
from .season import MIN_BIN_EVENTS, Season
from .settings import MonitorSettings

__all__ = ["NumericReference", "ReferenceWindow"]

# A reference whose standard deviation is below this fraction of its mean's size is
# constant for all purposes: there is nothing to standardise against.
_CONSTANT_RTOL = 1e-12
# The tested range is the reference [min, max] widened by this share of its width on
# each side: light-tailed features then almost never leave it in control, while a unit
# change or a flood of outliers still does at once.
_RANGE_MARGIN = 0.05
_INTEGERS = ("n", "start_position", "end_position", "first_offset", "last_offset")


class NumericReference:
    """The learnt reference of a numeric monitor (see the module docstring)."""

    def __init__(self, summary: dict[str, float], scores: NormalScores | None,
                 model: dict[str, Any]) -> None:
        self.summary = summary
        self.scores = scores
        self.model = model  # score centre and scale, dependence, block statistics
        # Block means of the whitened reference scores: River detectors calibrate on
        # them when the reference completes (not kept in state).
        self.reference_means = np.zeros(0)

    # -- learning ------------------------------------------------------------------------
    @staticmethod
    def dependence(values: np.ndarray) -> ARFit:
        """The AR fit of a window's normal scores (against its own sketch)."""
        return fit_ar(NormalScores.fit(values)(values))

    @classmethod
    def fit(cls, settings: MonitorSettings, window: ReferenceWindow) -> NumericReference:
        """Learn from a complete reference: its first window (consecutive values) and,
        for a dependent or seasonal stream, the runs kept from its extension. With a
        season, values are first standardised by their phase bin's reference."""
        profile = window.profile()
        if profile is not None:
            ref = cls.fit(settings, window.deseasonalised())
            ref.model.update(season=window.season.to_state(),  # type: ignore[union-attr]
                             season_mean=profile[0].tolist(), season_sd=profile[1].tolist())
            return ref
        vals = window.values + window.sample
        n = len(vals)
        mean = math.fsum(vals) / n
        sd = math.sqrt(math.fsum((v - mean) ** 2 for v in vals) / (n - 1))
        lo, hi = window.extremes
        margin = _RANGE_MARGIN * (hi - lo)
        first, last = window.first, window.last
        summary: dict[str, Any] = {
            "n": window.seen, "mean": mean, "sd": sd, "min": lo, "max": hi,
            "start_position": first[0], "end_position": last[0],
            "start_time": first[1], "end_time": last[1],
            "range_low": lo - margin, "range_high": hi + margin,
            "first_offset": window.offsets[0], "last_offset": window.offsets[1],
        }
        if sd == 0.0 or sd <= _CONSTANT_RTOL * abs(mean):
            return cls(summary, None, {"vif": 1.0})
        pooled = np.asarray(vals, dtype=np.float64)
        scores = NormalScores.fit(pooled)
        z = scores(pooled).tolist()
        s_mean = math.fsum(z) / n
        s_sd = math.sqrt(math.fsum((v - s_mean) ** 2 for v in z) / (n - 1))
        if s_sd <= 1e-9:
            return cls(summary, None, {"vif": 1.0})
        # The dependence model from the runs of consecutive values: the first window and
        # those kept from the extension.
        cuts = np.cumsum([len(window.values), *(len(r) for r in window.runs)])[:-1]
        segments = np.split(np.asarray(z) - s_mean, cuts)
        ar = fit_ar_segments(segments)
        model: dict[str, Any] = {"score_mean": s_mean, "score_sd": s_sd,
                                 "phi": list(ar.phi), "innovation_sd": s_sd}
        ref = cls(summary, scores, model)
        p = ar.order
        if p:
            e = np.concatenate([ref.whiten(d[p:], d[:p].tolist()) for d in segments])
            model["innovation_sd"] = s_sd * float(np.std(e, ddof=1))
        b = settings.block_size
        u = [ref.whiten(d[p:], d[:p].tolist()) if p else ref.whiten(d, []) for d in segments]
        stats = [block_stats(seg, 0.0, 1.0, b) for seg in u]
        means = np.concatenate([m for m, _ in stats])
        block_sd = np.concatenate([sd for _, sd in stats])
        nb = len(block_sd)
        m_s = math.fsum(block_sd.tolist()) / nb
        sd_s = math.sqrt(math.fsum((v - m_s) ** 2 for v in block_sd.tolist()) / (nb - 1))
        n_win = len(window.values)
        vif = ar.vif if ar.order else 1.0
        model.update({
            "block_sd_mean": m_s,
            "block_sd_sd": max(sd_s, 1e-3 * m_s, 1e-12),
            # Sampling error of the reference, in units of each block statistic: the
            # level comes from all the reference's events (worth n / VIF independent
            # ones, which the whitened scale turns back into n), the scales from the
            # consecutive window.
            "mean_se": math.sqrt(b / window.seen),
            "scale_se": 1.0 / math.sqrt(2.0 * (n_win - 1)),
            "spread_mean_se": 1.0 / math.sqrt(nb),
            "spread_scale_se": 1.0 / math.sqrt(2.0 * (nb - 1)),
            "vif": vif,
        })
        ref.reference_means = means  # River detectors calibrate on it (not kept in state)
        return ref

    # -- views ------------------------------------------------------------------------------
    @property
    def constant(self) -> bool:
        return self.scores is None

    @property
    def n(self) -> int:
        return int(self.summary["n"])

    @property
    def mean(self) -> float:
        return self.summary["mean"]

    @property
    def sd(self) -> float:
        return self.summary["sd"]

    @property
    def range_low(self) -> float:
        return self.summary["range_low"]

    @property
    def range_high(self) -> float:
        return self.summary["range_high"]

    @property
    def order(self) -> int:
        return len(self.model.get("phi", ()))

    @property
    def block_sd_mean(self) -> float:
        return self.model["block_sd_mean"]

    @property
    def block_sd_sd(self) -> float:
        return self.model["block_sd_sd"]

    @property
    def block_reference(self) -> dict[str, float]:
        """What the block detectors are fitted from (nothing for a constant reference)."""
        keys = ("mean_se", "scale_se", "block_sd_mean", "block_sd_sd", "spread_mean_se",
                "spread_scale_se")
        return {k: self.model[k] for k in keys if k in self.model}

    @property
    def vif(self) -> float:
        """Variance inflation of the scores by their dependence (1: independent)."""
        return float(self.model.get("vif", 1.0))

    @property
    def dependence_stats(self) -> dict[str, Any]:
        phi = self.model.get("phi", [])
        out = {"ar_order": len(phi), "ar_sum": math.fsum(phi), "vif": self.vif}
        season = self.season
        if season is not None:
            out["season_seconds"] = season.period
            out["season_bins"] = season.bins
        return out

    @property
    def range_reference(self) -> dict[str, Any]:
        """What the range test is fitted from: the reference's events, worth n / VIF
        independent ones for how far its extremes reach."""
        return {"n": max(1, int(self.n / self.vif))}

    @property
    def window(self) -> dict[str, Any]:
        """Which events formed the reference (the provenance of every detection)."""
        s = self.summary
        return {"n": int(s["n"]), "first_position": int(s["start_position"]),
                "last_position": int(s["end_position"]), "first_event_time": s["start_time"],
                "last_event_time": s["end_time"], "first_offset": int(s["first_offset"]),
                "last_offset": int(s["last_offset"])}

    def report_stats(self) -> dict[str, Any]:
        """The reference as an alert states it."""
        s = self.summary
        out = {k: s[k] for k in ("n", "mean", "sd", "min", "max", "start_position",
                                 "end_position")}
        out["dependence"] = self.dependence_stats
        return out

    def history(self, tail: list[float]) -> list[float]:
        """The whitening history that follows the reference: its last values, centred."""
        p = self.order
        if not p:
            return []
        return self.centred_scores(np.asarray(tail[-p:], dtype=np.float64)).tolist()

    # -- transforms ---------------------------------------------------------------------------
    @property
    def season(self) -> Season | None:
        return Season.from_state(self.model.get("season"))

    def deseasonalise(self, x: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Values standardised by their phase bin's reference (as they are without one)."""
        season = self.season
        if season is None:
            return x
        phases = season.phase_of(ts)
        return ((x - season.interpolate(np.asarray(self.model["season_mean"]), phases))
                / season.interpolate(np.asarray(self.model["season_sd"]), phases))

    def centred_scores(self, x: np.ndarray) -> np.ndarray:
        assert self.scores is not None
        return self.scores(x) - self.model["score_mean"]

    def whiten(self, d: np.ndarray, hist: list[float]) -> np.ndarray:
        """Innovations of centred scores ``d`` in innovation sd (``hist``: the values
        before ``d``, oldest first, as many as the model's order).

        Element by element in a fixed order of operations: values do not depend on
        how a stream is cut into batches.
        """
        phi = self.model["phi"]
        if phi:
            full = np.concatenate([np.asarray(hist, dtype=np.float64), d])
            p = len(phi)
            e = full[p:].copy()
            for i, c in enumerate(phi, start=1):
                e -= c * full[p - i : len(full) - i]
            d = e
        return d / self.model["innovation_sd"]

    # -- state ----------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {"summary": dict(self.summary),
                "scores": None if self.scores is None else self.scores.to_state(),
                "model": dict(self.model)}

    @classmethod
    def from_state(cls, settings: MonitorSettings, state: dict[str, Any]) -> NumericReference:
        scores = state["scores"]
        model = dict(state["model"])
        if "phi" in model:
            model["phi"] = [float(v) for v in model["phi"]]
        summary = {str(k): int(v) if k in _INTEGERS else float(v)
                   for k, v in state["summary"].items()}
        return cls(summary, None if scores is None else NormalScores.from_state(scores), model)


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
            off: np.ndarray | None = None) -> int:
        """Take values from x[i:] until the window (or the whole reference) is full."""
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
            raise ValueError("reference window state is inconsistent")
        return w
