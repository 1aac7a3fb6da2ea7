"""``joint_drift``: a change of how a model's numeric features move together.

A correlation that flips or vanishes while every feature keeps its distribution is
invisible to per-feature monitors. The joint monitor whitens each event's numeric
features against its reference (:class:`~streamproc.core.reference.JointReference`) and
turns it into a log-likelihood ratio of two EWMA covariance estimates against the
reference's (:class:`~streamproc.core.stats.JointLikelihood`); this detector is the
CUSUM of those ratios, ``S_t = max(0, S_{t-1} + W_t)``, with the threshold
``h = ln(c_d ARL)`` of :func:`~streamproc.core.calibration.joint_threshold`. The
monitor explains an alarm (the pair and the direction that moved most).

Severity grades the mean increment over the alarming excursion (nats per event, what
the estimated change costs the reference's likelihood): below 0.05 low, 0.2 medium,
1 high, else critical.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..calibration import joint_threshold
from ..contracts import SEVERITIES
from .contract import FitContext, Report, VectorDetector
from .engines.integer_cusum import Cusum, quantize
from .inputs import LikelihoodRatios
from .registry import register

__all__ = ["JointDrift"]

_SEVERITY_CUTS = (0.05, 0.2, 1.0)


@register
class JointDrift(VectorDetector):
    """CUSUM of joint-drift log-likelihood ratios."""

    name: ClassVar[str] = "joint_drift"
    input: ClassVar[str] = "likelihood"

    def __init__(self, d: int, cusum: Cusum | None = None) -> None:
        self.d = int(d)
        self.cusum = cusum or Cusum(0.0, 1.0)

    @classmethod
    def fit(cls, ctx: FitContext) -> JointDrift:
        det = cls(int(ctx.reference["d"]))
        det.calibrate(ctx.arl_events)
        return det

    def calibrate(self, arl_events: float) -> None:
        self.cusum.set_threshold(joint_threshold(arl_events, self.d))

    @property
    def drift_detected(self) -> bool:
        return self.cusum.drift_detected

    def restart(self) -> None:
        self.cusum.restart()

    def scan(self, inp: LikelihoodRatios, limit: int) -> int:
        if self.cusum.drift_detected:
            self.cusum.restart()
        return self.cusum.scan(inp.memo("w", lambda: quantize(inp.w.copy())), limit)

    def advance(self, inp: LikelihoodRatios, n: int) -> None:
        q = inp.memo("w", lambda: quantize(inp.w.copy()))
        self.cusum.advance(q, q, inp.tags, n)

    def report(self, position: int, reference: dict[str, Any]) -> Report:
        c = self.cusum
        onset = c.onset_tag
        rate = c.aux_mean
        severity = next((s for s, cut in zip(SEVERITIES, _SEVERITY_CUTS, strict=False)
                         if rate < cut), SEVERITIES[-1])
        return Report(onset=onset, direction="changed", severity=severity,
                      current={"n": position - onset[0] + 1, "mean_increment": rate},
                      extra={"threshold": c.threshold})

    @property
    def score(self) -> float:
        return self.cusum.statistic / self.cusum.threshold

    def params(self) -> dict[str, Any]:
        return {"implementation": "streamproc CUSUM of two-rate EWMA covariance likelihood "
                "ratios", "features": self.d, "threshold": self.cusum.threshold}

    def to_state(self) -> list[Any]:
        return [self.d, self.cusum.to_state()]

    @classmethod
    def from_state(cls, state: list[Any]) -> JointDrift:
        d, cusum = state
        return cls(int(d), Cusum.from_state(cusum))

    @classmethod
    def describe(cls, statistics: dict[str, Any], direction: str) -> str:
        pair = statistics.get("pair")
        parts = []
        if pair:
            parts.append(f"correlation of {pair[0]} and {pair[1]} changed from "
                         f"{statistics.get('reference_correlation', 0.0):+.2f} to "
                         f"{statistics.get('current_correlation', 0.0):+.2f}")
        along = statistics.get("direction")
        if along:
            top = sorted(along.items(), key=lambda kv: -abs(kv[1]))[:3]
            parts.append("variance along " + " ".join(f"{v:+.2f} {k}" for k, v in top)
                         + f" x{statistics.get('variance_ratio', 1.0):.2f}")
        return "joint structure changed: " + "; ".join(parts) if parts else \
            "joint structure of the numeric features changed"
