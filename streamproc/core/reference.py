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
from .dependence import P_MAX, ARFit, fit_ar, fit_ar_segments
from .scores import NormalScores
from .settings import MonitorSettings

__all__ = ["NumericReference", "ReferenceWindow"]

# A reference whose standard deviation is below this fraction of its mean's size is
# constant for all purposes: there is nothing to standardise against.
_CONSTANT_RTOL = 1e-12
# The tested range is the reference [min, max] widened by this share of its width on
# each side: light-tailed features then almost never leave it in control, while a unit
# change or a flood of outliers still does at once.
_RANGE_MARGIN = 0.05
_INTEGERS = ("n", "start_position", "end_position")


class NumericReference:
    """The learnt reference of a numeric monitor (see the module docstring)."""

    def __init__(self, summary: dict[str, float], scores: NormalScores | None,
                 model: dict[str, Any]) -> None:
        self.summary = summary
        self.scores = scores
        self.model = model  # score centre and scale, dependence, block statistics

    # -- learning ------------------------------------------------------------------------
    @staticmethod
    def dependence(values: np.ndarray) -> ARFit:
        """The AR fit of a window's normal scores (against its own sketch)."""
        return fit_ar(NormalScores.fit(values)(values))

    @classmethod
    def fit(cls, settings: MonitorSettings, window: ReferenceWindow) -> NumericReference:
        """Learn from a complete reference: its first window (consecutive values) and,
        for a dependent stream, the every-k-th sample of its extension."""
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
        }
        if sd == 0.0 or sd <= _CONSTANT_RTOL * abs(mean):
            return cls(summary, None, {"vif": 1.0})
        pooled = np.asarray(vals)
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
            "reference_means": means.tolist(),
            "vif": vif,
        })
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
    def reference_means(self) -> np.ndarray:
        """Block means of the whitened reference scores (River detectors calibrate on it)."""
        return np.asarray(self.model.get("reference_means", []))

    @property
    def vif(self) -> float:
        """Variance inflation of the scores by their dependence (1: independent)."""
        return float(self.model.get("vif", 1.0))

    @property
    def dependence_stats(self) -> dict[str, Any]:
        phi = self.model.get("phi", [])
        return {"ar_order": len(phi), "ar_sum": math.fsum(phi), "vif": self.vif}

    @property
    def range_reference(self) -> dict[str, Any]:
        """What the range test is fitted from: the reference's events, worth n / VIF
        independent ones for how far its extremes reach."""
        return {"n": max(1, int(self.n / self.vif))}

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
    """Collects a numeric reference: a first window, extended for a dependent stream.

    The extension keeps runs of consecutive values spread over its whole span (the
    dependence model needs consecutive values; the sketch needs every phase).

    Batch-invariant: what is kept depends only on the values' order.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.values: list[float] = []
        # Runs of consecutive values kept from the extension: the first size / step
        # values of every size values, so the dependence model sees every phase.
        self.runs: list[list[float]] = []
        self.tail: list[float] = []  # the last P_MAX values: the whitening's first history
        self.first: tuple[int, float] = (0, 0.0)
        self.last: tuple[int, float] = (0, 0.0)
        self.extremes: tuple[float, float] = (math.inf, -math.inf)
        self.target = 0  # events the reference spans (set when the first window is full)
        self.step = 1  # every step-th value of the extension is kept
        self.seen = 0

    @property
    def window_full(self) -> bool:
        return len(self.values) == self.size

    @property
    def complete(self) -> bool:
        return self.target > 0 and self.seen >= self.target

    def add(self, x: np.ndarray, pos: np.ndarray, ts: np.ndarray, i: int) -> int:
        """Take values from x[i:] until the window (or the extension) is full."""
        if self.seen == 0:
            self.first = (int(pos[i]), float(ts[i]))
        if not self.window_full:
            take = min(self.size - len(self.values), len(x) - i)
        else:
            take = min(self.target - self.seen, len(x) - i)
            self._keep_runs(x[i : i + take])
        chunk = x[i : i + take]
        if not self.window_full:
            self.values.extend(chunk.tolist())
        if take:
            self.tail = (self.tail + chunk[-P_MAX:].tolist())[-P_MAX:]
            lo, hi = self.extremes
            self.extremes = (min(lo, float(chunk.min())), max(hi, float(chunk.max())))
            self.seen += take
            self.last = (int(pos[i + take - 1]), float(ts[i + take - 1]))
        return i + take

    @property
    def run_length(self) -> int:
        return max(self.size // self.step, 4 * P_MAX)

    def _keep_runs(self, chunk: np.ndarray) -> None:
        j = self.seen - self.size  # extension index of chunk[0]
        run = self.run_length
        while len(chunk):
            phase = j % self.size
            if phase < run:
                keep = min(run - phase, len(chunk))
                if phase == 0:
                    self.runs.append([])
                self.runs[-1].extend(chunk[:keep].tolist())
                chunk, j = chunk[keep:], j + keep
            else:
                skip = min(self.size - phase, len(chunk))
                chunk, j = chunk[skip:], j + skip

    @property
    def sample(self) -> list[float]:
        return [v for run in self.runs for v in run]

    def extend(self, windows: float) -> None:
        """After the first window: span ``windows`` windows (1: complete now)."""
        self.step = max(1, math.ceil(windows))
        self.target = max(self.size, math.ceil(windows * self.size))

    def to_state(self) -> dict[str, Any]:
        return {"values": list(self.values), "runs": [list(r) for r in self.runs],
                "tail": list(self.tail),
                "first": list(self.first), "last": list(self.last),
                "extremes": [self.extremes[0], self.extremes[1]] if self.seen else None,
                "i": [self.target, self.step, self.seen]}

    @classmethod
    def from_state(cls, size: int, state: dict[str, Any]) -> ReferenceWindow:
        w = cls(size)
        w.values = [float(v) for v in state["values"]]
        w.runs = [[float(v) for v in run] for run in state["runs"]]
        w.tail = [float(v) for v in state["tail"]]
        w.first = (int(state["first"][0]), float(state["first"][1]))
        w.last = (int(state["last"][0]), float(state["last"][1]))
        ext = state["extremes"]
        if ext is not None:
            w.extremes = (float(ext[0]), float(ext[1]))
        w.target, w.step, w.seen = (int(v) for v in state["i"])
        if len(w.values) > size or w.seen < len(w.values):
            raise ValueError("reference window state is inconsistent")
        return w
