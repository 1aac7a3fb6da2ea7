"""What a numeric monitor learns from its reference window.

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
from .scores import NormalScores
from .settings import MonitorSettings

__all__ = ["NumericReference"]

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
    @classmethod
    def fit(cls, settings: MonitorSettings, values: np.ndarray, first: tuple[int, float],
            last: tuple[int, float]) -> NumericReference:
        vals = values.tolist()
        n = len(vals)
        mean = math.fsum(vals) / n
        sd = math.sqrt(math.fsum((v - mean) ** 2 for v in vals) / (n - 1))
        lo, hi = min(vals), max(vals)
        margin = _RANGE_MARGIN * (hi - lo)
        summary = {
            "n": n, "mean": mean, "sd": sd, "min": lo, "max": hi,
            "start_position": first[0], "end_position": last[0],
            "start_time": first[1], "end_time": last[1],
            "range_low": lo - margin, "range_high": hi + margin,
        }
        if sd == 0.0 or sd <= _CONSTANT_RTOL * abs(mean):
            return cls(summary, None, {})
        scores = NormalScores.fit(values)
        z = scores(values).tolist()
        s_mean = math.fsum(z) / n
        s_sd = math.sqrt(math.fsum((v - s_mean) ** 2 for v in z) / (n - 1))
        if s_sd <= 1e-9:
            return cls(summary, None, {})
        model: dict[str, Any] = {"score_mean": s_mean, "score_sd": s_sd, "phi": [],
                                 "innovation_sd": s_sd}
        ref = cls(summary, scores, model)
        b = settings.block_size
        u = ref.whiten(np.asarray(z) - s_mean, [0.0] * ref.order)
        means, block_sd = block_stats(u, 0.0, 1.0, b)
        nb = len(block_sd)
        m_s = math.fsum(block_sd.tolist()) / nb
        sd_s = math.sqrt(math.fsum((v - m_s) ** 2 for v in block_sd.tolist()) / (nb - 1))
        model.update({
            "block_sd_mean": m_s,
            "block_sd_sd": max(sd_s, 1e-3 * m_s, 1e-12),
            # Sampling error of the reference, in units of each block statistic.
            "mean_se": math.sqrt(b / n),
            "scale_se": 1.0 / math.sqrt(2.0 * (n - 1)),
            "spread_mean_se": 1.0 / math.sqrt(nb),
            "spread_scale_se": 1.0 / math.sqrt(2.0 * (nb - 1)),
            "reference_means": means.tolist(),
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
        """What the block detectors are fitted from."""
        return {k: self.model[k] for k in ("mean_se", "scale_se", "block_sd_mean",
                                           "block_sd_sd", "spread_mean_se", "spread_scale_se")}

    @property
    def reference_means(self) -> np.ndarray:
        """Block means of the whitened reference scores (River detectors calibrate on it)."""
        return np.asarray(self.model.get("reference_means", []))

    def report_stats(self) -> dict[str, Any]:
        """The reference as an alert states it."""
        s = self.summary
        return {k: s[k] for k in ("n", "mean", "sd", "min", "max", "start_position",
                                  "end_position")}

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
