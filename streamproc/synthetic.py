"""A seeded synthetic serving layer: two models, their features, predictions and labels.

Used by ``streamproc demo``, the integration tests and the benchmarks. Events are
generated in fixed blocks from ``default_rng([seed, model, block])``, so the values
do not depend on how fast they are sent: two runs tell the same story.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["BLOCK", "SyntheticEvent", "SyntheticModel", "demo_models"]

BLOCK = 100


@dataclass(frozen=True)
class SyntheticEvent:
    index: int
    features: dict[str, Any]
    prediction: float
    label: int


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class SyntheticModel:
    """One model of the synthetic serving layer.

    ``shift_feature`` is multiplied by ``shift_factor`` from event ``shift_at`` on
    (None: no shift); predictions never depend on it, so only that feature drifts.
    """

    model_id: str
    version: str
    seed: int
    number: int
    shift_feature: str | None = None
    shift_factor: float = 1.0
    shift_at: int | None = None

    def block(self, b: int) -> list[SyntheticEvent]:
        rng = np.random.default_rng([self.seed, self.number, b])
        n = BLOCK
        if self.model_id.startswith("fraud"):
            cols: dict[str, np.ndarray] = {
                "amount": rng.lognormal(3.5, 1.0, n),
                "merchant_risk": rng.beta(2.0, 8.0, n),
                "account_age_days": rng.gamma(2.0, 300.0, n),
                "txn_last_hour": rng.poisson(1.5, n),
                "distance_km": rng.exponential(15.0, n),
                "hour_of_day": rng.integers(0, 24, n),
                "card_type": rng.choice(["debit", "credit", "prepaid"], n, p=[0.6, 0.35, 0.05]),
                "is_international": rng.random(n) < 0.08,
            }
            logit = (-4.0 + 0.5 * np.log(cols["amount"]) + 4.0 * cols["merchant_risk"]
                     + 0.3 * cols["txn_last_hour"] - 0.0008 * cols["account_age_days"])
        else:
            cols = {
                "tenure_months": rng.gamma(2.0, 12.0, n),
                "monthly_spend": rng.normal(45.0, 12.0, n),
                "support_tickets": rng.poisson(0.8, n),
                "sessions_last_week": rng.poisson(6.0, n),
                "avg_session_minutes": rng.lognormal(2.3, 0.4, n),
                "discount_pct": rng.uniform(0.0, 30.0, n),
                "plan": rng.choice(["basic", "pro", "team"], n, p=[0.5, 0.35, 0.15]),
                "auto_renew": rng.random(n) < 0.7,
            }
            logit = (0.5 - 0.05 * cols["tenure_months"] + 0.01 * cols["monthly_spend"]
                     + 0.6 * cols["support_tickets"] - 1.0 * cols["auto_renew"])
        prob = _sigmoid(logit)
        labels = (rng.random(n) < prob).astype(int)
        events = []
        for i in range(n):
            index = b * BLOCK + i
            feats: dict[str, Any] = {}
            for name, col in cols.items():
                v = col[i]
                if isinstance(v, np.bool_):
                    feats[name] = bool(v)
                elif isinstance(v, np.integer):
                    feats[name] = int(v)
                elif isinstance(v, np.floating):
                    feats[name] = round(float(v), 4)
                else:
                    feats[name] = str(v)
            shifted = self.shift_feature
            if shifted and self.shift_at is not None and index >= self.shift_at:
                feats[shifted] = round(feats[shifted] * self.shift_factor, 4)
            events.append(SyntheticEvent(index, feats, round(float(prob[i]), 5), int(labels[i])))
        return events

    def events(self, start: int, count: int) -> list[SyntheticEvent]:
        """Events ``start`` to ``start + count - 1``."""
        out: list[SyntheticEvent] = []
        b = start // BLOCK
        while len(out) < count:
            for e in self.block(b):
                if e.index >= start and len(out) < count:
                    out.append(e)
            b += 1
        return out


def demo_models(seed: int, events_per_model: int) -> list[SyntheticModel]:
    """The demo's two models; churn-model's avg_session_minutes drifts half-way."""
    half = events_per_model // 2
    return [
        SyntheticModel("fraud-detector", "v7", seed, 0),
        SyntheticModel(
            "churn-model", "v3", seed, 1,
            shift_feature="avg_session_minutes", shift_factor=math.exp(0.3), shift_at=half,
        ),
    ]
