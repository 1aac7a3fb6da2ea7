"""Seeded feature traffic that makes a worker alert: one numeric feature shifts, once."""

from __future__ import annotations

import random
from typing import Any

import orjson

from ..conftest import producer

# With a 200-event reference, a 3 sd shift at event 600 is detected within ~20 events
# by one detector per monitor (the others fall in its cooldown): one alert per model.
REFERENCE_SIZE = 200
EVENTS = 1200
SHIFT_AT = 600
SHIFT_SD = 3.0


def shifted_events(model_id: str, seed: int, n: int = EVENTS, shift_at: int | None = SHIFT_AT,
                   t0: float = 1.7e9) -> list[dict[str, Any]]:
    """Feature events of one model: x ~ N(0, 1), then N(SHIFT_SD, 1) from ``shift_at`` on."""
    rng = random.Random(seed)
    events = []
    for i in range(n):
        shift = SHIFT_SD if shift_at is not None and i >= shift_at else 0.0
        events.append({
            "model_id": model_id, "model_version": "1", "event_id": f"{model_id}-{i}",
            "timestamp": t0 + i * 0.01, "features": {"x": round(rng.gauss(shift, 1.0), 6)},
        })
    return events


def produce_features(bootstrap: str, topic: str, events: list[dict[str, Any]]) -> None:
    """Send events keyed by model_id and wait until the broker has them all."""
    p = producer(bootstrap)
    for e in events:
        p.produce(topic, key=e["model_id"].encode(), value=orjson.dumps(e))
    assert p.flush(30) == 0


def send_shifted(bootstrap: str, topic: str, models: list[str], seed: int = 1) -> None:
    """One shifted model per name (seeds seed, seed+1, ...)."""
    events: list[dict[str, Any]] = []
    for k, model in enumerate(models):
        events += shifted_events(model, seed + k)
    produce_features(bootstrap, topic, events)
