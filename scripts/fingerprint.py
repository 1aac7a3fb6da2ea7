"""Fingerprint of the detection core's behaviour: alerts and final state on one stream.

A seeded multi-model stream (numeric, categorical and boolean features; nulls and type
changes; a mean shift, a variance change, an AR(1) feature, a declared season; class
predictions with scores, a regression model, labels; a new model version; River
detectors by configuration) is fed to ``PartitionMonitors`` in uneven batches. The
script prints the SHA-256 of every alert (as JSON, in order) and of the final snapshot
state, and the alert count per detector. A refactoring that must not change behaviour
prints the same lines before and after::

    .venv/bin/python scripts/fingerprint.py
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streamproc.config import load_settings  # noqa: E402
from streamproc.core import InputEvent, PartitionMonitors  # noqa: E402

CONFIG = """
detection:
  reference_size: 400
  season_bins: 12
  cooldown_events: 1500
  detectors:
    - river: drift.PageHinkley
      calibrate: true
      features: [ar]
    - river: drift.binary.HDDMA
      signals: [performance]
models:
  seasonal:
    seasonality: 1h
    feature_seasonality: {temp: 1h}
  regress:
    task: regression
    false_alarm_budget: 50000
"""

MODELS = ("fraud", "churn", "seasonal", "regress", "quiet")


def stream(n: int, seed: int) -> dict[str, list[InputEvent]]:
    rng = np.random.default_rng(seed)
    out: dict[str, list[InputEvent]] = {"features": [], "predictions": [], "labels": []}
    ar = dict.fromkeys(MODELS, 0.0)
    for i in range(n):
        model = MODELS[i % len(MODELS)]
        late = i > n // 2
        version = "2" if (model == "quiet" and i > 3 * n // 4) else "1"
        ts = 1.7e9 + i * 0.5
        ar[model] = 0.8 * ar[model] + rng.normal()
        feats: dict[str, object] = {
            "amount": float(rng.lognormal(3 + (0.4 if late and model == "fraud" else 0), 1)),
            "ar": ar[model] + (2.0 if late and model == "churn" else 0.0),
            "spread": float(rng.normal(0, 2.0 if late and model == "quiet" else 1.0)),
            "plan": rng.choice(["a", "b", "c"], p=[0.6, 0.3, 0.1] if not late or model != "churn"
                               else [0.3, 0.3, 0.4]).item(),
            "flag": bool(rng.random() < 0.2),
            "count": int(rng.poisson(4)),
            "temp": float(np.sin(2 * np.pi * ts / 3600) * 3 + rng.normal()),
        }
        if late and model == "fraud" and rng.random() < 0.3:
            feats["amount"] = None
        if late and model == "seasonal" and rng.random() < 0.2:
            feats["count"] = "n/a"
        out["features"].append(InputEvent("features", i, model, version, f"e{i}", ts,
                                          {"features": feats}))
        if model == "regress":
            pred: object = float(rng.normal(10, 2))
            body: dict[str, object] = {"prediction": pred}
            label: object = float(pred) + float(rng.normal(0, 3.0 if late else 1.0))
        else:
            p = float(rng.random())
            pred = p > 0.5
            body = {"prediction": pred, "scores": {"true": p, "false": 1 - p}}
            wrong = rng.random() < (0.35 if late and model == "fraud" else 0.1)
            label = (not pred) if wrong else pred
        out["predictions"].append(InputEvent("predictions", i, model, version, f"e{i}", ts, body))
        out["labels"].append(InputEvent("labels", i, model, None, f"e{i}", ts + 3,
                                        {"label": label}))
    return out


def main() -> int:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        fh.write(CONFIG)
    config = load_settings(fh.name).detection_config()
    Path(fh.name).unlink()
    events = stream(60_000, 11)
    pm = PartitionMonitors(config, 2)
    rng = np.random.default_rng(5)
    alerts: list[bytes] = []
    at = {k: 0 for k in events}
    n = len(events["features"])
    while min(at.values()) < n:
        for kind in ("features", "predictions", "labels"):
            size = int(rng.integers(1, 4000))
            lo = at[kind]
            hi = min(n, lo + size)
            if lo >= hi:
                continue
            done = pm.apply(kind, kind, events[kind][lo:hi], detected_at=1.8e9)
            alerts += [orjson.dumps(a) for a in done.alerts]
            at[kind] = hi
    state = orjson.dumps(pm.to_state())
    detectors = Counter(orjson.loads(a)["detector"] for a in alerts)
    print("alerts", len(alerts), hashlib.sha256(b"\n".join(alerts)).hexdigest())
    print("state", len(state), hashlib.sha256(state).hexdigest())
    print("by detector", dict(sorted(detectors.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
