"""The unit of state: exactly-once absorption across crashes, redeliveries and batchings.

This is the pure-core half of the crash-consistency guarantee: a stream replayed
from a snapshot, with redelivered events and arbitrary batch boundaries, ends in
the same state with the same alerts as one uninterrupted pass.
"""

from __future__ import annotations

import json
import random

import jsonschema_rs
import numpy as np

from streamproc.core.contracts.events import InputEvent
from streamproc.core.contracts.schemas import schema
from streamproc.core.settings import DetectionConfig, MonitorSettings
from streamproc.core.snapshot import decode, encode
from streamproc.core.units.partition import PartitionMonitors

# Joint drift on (off by default): the crash test covers its state too.
CONFIG = DetectionConfig(MonitorSettings(reference_size=500, multivariate=True))


def _stream(n: int, seed: int) -> dict[str, list[InputEvent]]:
    rng = np.random.default_rng(seed)
    out: dict[str, list[InputEvent]] = {"features": [], "predictions": [], "labels": []}
    for i in range(n):
        model = ("fraud", "churn")[i % 2]
        shift = 1.0 if (model == "churn" and i > n // 2) else 0.0
        ts = 1.7e9 + i
        out["features"].append(InputEvent(
            "features", i, model, "1", f"e{i}", ts,
            {"features": {"a": float(rng.normal(shift, 1)), "b": rng.choice(["x", "y"]).item(),
                          "c": int(rng.poisson(3))}},
        ))
        pred = bool(rng.random() < 0.5)
        out["predictions"].append(InputEvent(
            "predictions", i, model, "1", f"e{i}", ts, {"prediction": pred}))
        wrong = rng.random() < (0.3 if (model == "fraud" and i > n // 2) else 0.1)
        out["labels"].append(InputEvent(
            "labels", i, model, None, f"e{i}", ts + 5, {"label": (not pred) if wrong else pred}))
    return out


def _run(stream: dict[str, list[InputEvent]], cuts: list[int], crashes: set[int],
         seed: int) -> tuple[PartitionMonitors, list[str]]:
    """Feed in batches; at crash points, restore from the last snapshot and redeliver."""
    rng = random.Random(seed)
    pm = PartitionMonitors(CONFIG, 3)
    alerts: list[str] = []
    snapshot = encode(pm.to_state())
    n = len(stream["features"])
    for k, end in enumerate([*cuts, n]):
        for kind in ("features", "predictions", "labels"):
            lo = max(0, pm.absorbed(kind) + 1 - rng.randint(0, 50))  # redelivery overlap
            applied = pm.apply(kind, kind, stream[kind][lo:end], detected_at=0.0)
            alerts += [a["alert_id"] for a in applied.alerts]
        if k % 3 == 0:
            snapshot = encode(pm.to_state(), key=b"k")
        if k in crashes:
            pm = PartitionMonitors.from_state(CONFIG, decode(snapshot, key=b"k")["state"])
    return pm, alerts


def test_crash_and_redelivery_end_in_the_same_state() -> None:
    stream = _stream(12_000, seed=1)
    n = 12_000
    reference, ref_alerts = _run(stream, list(range(1000, n, 1000)), set(), seed=0)
    cuts = sorted(random.Random(5).sample(range(1, n), 60))
    crashed, crash_alerts = _run(stream, cuts, crashes={7, 19, 33, 50}, seed=9)
    assert json.dumps(crashed.to_state()) == json.dumps(reference.to_state())
    assert set(crash_alerts) == set(ref_alerts) and ref_alerts
    assert reference.observations("churn")[("feature", "a")] == 6000


def test_alerts_follow_the_drift_alert_schema() -> None:
    stream = _stream(12_000, seed=1)
    pm = PartitionMonitors(CONFIG, 0)
    alerts = []
    for start in range(0, 12_000, 500):
        for kind in ("features", "predictions", "labels"):
            alerts += pm.apply(kind, kind, stream[kind][start:start + 500],
                               detected_at=1.7e9).alerts
    check = jsonschema_rs.validator_for(schema("alert"), validate_formats=True)
    # churn's mean shift of "a" moves the joint structure of (a, c) too: the joint
    # monitor (on here) alerts beside the feature's own, naming the direction.
    assert {(a["model_id"], a["signal"], a["feature"], a["detector"]) for a in alerts} == {
        ("churn", "feature", "a", "cusum"), ("fraud", "performance", None, "error_rate"),
        ("churn", "multivariate", None, "joint_drift")}
    for a in alerts:
        check.validate(a)


def test_alerts_say_what_they_were_judged_against() -> None:
    stream = _stream(12_000, seed=1)
    pm = PartitionMonitors(CONFIG, 0)
    alerts = []
    for start in range(0, 12_000, 700):
        for kind in ("features", "predictions", "labels"):
            alerts += pm.apply(kind, kind, stream[kind][start:start + 700],
                               detected_at=1.7e9).alerts
    assert alerts
    for a in alerts:
        prov = a["provenance"]
        ref = prov["reference"]
        assert ref["n"] >= 500 and 0 <= ref["first_offset"] < ref["last_offset"]
        assert ref["last_offset"] < a["source"]["offset"]
        assert ref["first_event_time"] <= ref["last_event_time"]
        assert prov["detector"]["name"] == a["detector"] and prov["detector"]["implementation"]
        assert prov["false_alarm_budget"]["events"] == 100_000
        assert prov["model_version"] == "1" and prov["streamproc_version"]


def test_new_version_starts_a_new_reference_and_old_ones_are_bounded() -> None:
    cfg = DetectionConfig(MonitorSettings(reference_size=64), max_versions=2)
    pm = PartitionMonitors(cfg, 0)
    events = [InputEvent("features", i, "m", f"v{i // 100}", f"e{i}", float(i),
                         {"features": {"x": float(i % 7)}}) for i in range(400)]
    pm.apply("features", "features", events, detected_at=0.0)
    assert list(pm.models["m"]) == ["v2", "v3"]
    assert pm.models["m"]["v3"].features["x"].n_events == 100
