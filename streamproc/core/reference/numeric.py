"""What a numeric monitor learns from its reference window.

:class:`ReferenceWindow` collects it: the first ``reference_size`` values, and when
those show dependence (:mod:`streamproc.core.stats.dependence`), more, up to ``VIF``
times as many, of which every k-th is kept, so that a slow cycle or a wandering level
is covered.
:class:`NumericReference` is what is learnt from it:

* the raw mean, standard deviation and range (for reports and the range test);
* the normal-score sketch (:mod:`streamproc.core.stats.normal_scores`): every value is
  mapped to the normal quantile of its place in the reference distribution, so skewed and
  heavy-tailed
  features are tested like N(0, 1) ones;
* the dependence model of the scores, which whitens them so that the block tests'
  thresholds hold on autocorrelated streams too (see :mod:`streamproc.core.stats.dependence`);
* the in-control behaviour of the block statistics of the whitened scores (the
  spread test is standardised by it) and the sampling errors of all of these,
  which the thresholds average over.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..settings import MonitorSettings
from ..stats import (
    ARFit,
    NormalScores,
    Season,
    block_sd_floor,
    block_stats,
    fit_ar,
    fit_ar_segments,
    level_wander,
)
from .window import ReferenceWindow

__all__ = ["NumericReference"]

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
        wander, ratio = level_wander(u, b)
        model.update({
            "block_sd_mean": m_s,
            # A few blocks (a short reference) can under-state how much block sds vary,
            # and a spread test standardised by too small a scale alarms on noise: the
            # scale is at least what independent normal innovations give (``sd_floor``).
            "block_sd_sd": max(sd_s, block_sd_floor(m_s, b), 1e-3 * m_s, 1e-12),
            # Sampling error of the reference, in units of each block statistic: the
            # level comes from all the reference's events (worth n / VIF independent
            # ones, which the whitened scale turns back into n), the scales from the
            # consecutive window.
            # ... plus the level's own slow variation that the dependence model leaves
            # in the whitened scores (a cycle or trend longer than the reference): the
            # future level departs from the reference's by about that much.
            "mean_se": math.sqrt(b / window.seen + b * wander),
            "wander": wander,
            "wander_ratio": ratio,
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
                "spread_scale_se", "wander")
        return {k: self.model[k] for k in keys if k in self.model}

    @property
    def vif(self) -> float:
        """Variance inflation of the scores by their dependence (1: independent)."""
        return float(self.model.get("vif", 1.0))

    @property
    def dependence_stats(self) -> dict[str, Any]:
        phi = self.model.get("phi", [])
        out = {"ar_order": len(phi), "ar_sum": math.fsum(phi), "vif": self.vif}
        if self.wander:
            out["level_wander_sd"] = math.sqrt(self.wander)
        season = self.season
        if season is not None:
            out["season_seconds"] = season.period
            out["season_bins"] = season.bins
        return out

    @property
    def wander(self) -> float:
        """Variance of the slow level variation the dependence model leaves in the
        whitened scores, per value (0: none found)."""
        return float(self.model.get("wander", 0.0))

    @property
    def range_reference(self) -> dict[str, Any]:
        """What the range test is fitted from: the reference's events, worth n / VIF
        independent ones for how far its extremes reach (n / the coarse blocks' excess
        dispersion when the level wanders more than that)."""
        inflation = max(self.vif, float(self.model.get("wander_ratio", 1.0)))
        return {"n": max(1, int(self.n / inflation))}

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

    def allow_level_wander(self, variance: float, block: int) -> None:
        """Account for a level known to wander by ``variance`` (in raw units squared, from
        the monitor's history of alerts): the level tests' reference error grows by it,
        in whitened units, and the tested range widens by three of its sd on each side."""
        if self.constant or variance <= 0.0:
            return
        u2 = variance / (self.vif * self.sd * self.sd)
        old = self.wander
        if u2 > old:
            se2 = self.model["mean_se"] ** 2 + block * (u2 - old)
            self.model.update(mean_se=math.sqrt(se2), wander=u2)
        widen = 3.0 * math.sqrt(variance)
        self.summary["range_low"] -= widen
        self.summary["range_high"] += widen

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
