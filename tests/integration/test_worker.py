"""Worker end to end over the embedded broker: alerts, metrics, bad input, health."""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.error
import urllib.request

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from streamproc.client import EventProducer
from streamproc.synthetic import demo_models

from ..conftest import (
    producer,
    read_alerts,
    read_topic,
    running_worker,
    scrape,
    settings_for,
    wait_until,
)

pytestmark = pytest.mark.integration

PER_MODEL = 9000  # the shift starts at event 4500 of churn-model


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed; .ci/run installs it")
        pytest.skip(f"{name} not installed")
    return path


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _send_demo_traffic(bootstrap: str, settings: object) -> list:
    models = demo_models(7, PER_MODEL)
    with EventProducer(bootstrap, features_topic=settings.features_topic,  # type: ignore[attr-defined]
                       predictions_topic=settings.predictions_topic) as events:  # type: ignore[attr-defined]
        for model in models:
            for e in model.events(0, PER_MODEL):
                eid = f"{model.model_id}-{e.index}"
                ts = 1.7e9 + e.index * 0.01
                events.send_features(model.model_id, model.version, eid, e.features, ts)
                events.send_prediction(model.model_id, model.version, eid, e.prediction,
                                       timestamp=ts)
    return models


def test_shifted_feature_alerts_stable_ones_do_not_and_metrics_count(broker, tmp_path) -> None:
    s = settings_for(broker, "skeleton")
    with running_worker(s) as worker:
        _send_demo_traffic(broker.bootstrap, s)
        bad = producer(broker)
        bad.produce(s.features_topic, key=b"churn-model", value=b"{not json")
        bad.produce(s.features_topic, key=b"churn-model", value=orjson.dumps(
            {"model_id": "churn-model", "model_version": "v3", "event_id": "x",
             "timestamp": "soon", "features": {}}))
        bad.flush()
        def consumed() -> bool:
            return all(
                worker.registry.get_sample_value(
                    "streamproc_events_consumed_total", {"model_id": m, "topic": t}) == PER_MODEL
                for m in ("churn-model", "fraud-detector")
                for t in (s.features_topic, s.predictions_topic)
            )

        wait_until(consumed, 60, "all events consumed")
        wait_until(lambda: worker.registry.get_sample_value(
            "streamproc_events_invalid_total", {"topic": s.features_topic, "reason": "schema"}),
            20, "the schema violation counted")
        worker.publish_view()
        text = scrape(worker.http.url)  # type: ignore[union-attr]
        alerts = wait_until(lambda: read_alerts(broker.bootstrap, s.alerts_topic), 20, "alerts")

    assert [(a["model_id"], a["signal"], a["feature"], a["detector"]) for a in alerts] == [
        ("churn-model", "feature", "avg_session_minutes", "cusum")]
    assert alerts[0]["position"] == 4559 and alerts[0]["onset"]["position"] >= 4400

    samples = _samples(text)
    for model in ("churn-model", "fraud-detector"):
        for topic in (s.features_topic, s.predictions_topic):
            key = ("streamproc_events_consumed_total", (("model_id", model), ("topic", topic)))
            assert samples[key] == PER_MODEL
    assert samples[("streamproc_drift_alerts_total", (
        ("detector", "cusum"), ("feature", "avg_session_minutes"),
        ("model_id", "churn-model"), ("signal", "feature")))] == 1
    assert samples[("streamproc_events_invalid_total", (
        ("reason", "invalid_json"), ("topic", s.features_topic)))] == 1
    assert samples[("streamproc_monitor_observations", (
        ("feature", "amount"), ("model_id", "fraud-detector"), ("signal", "feature")))] == PER_MODEL
    mean = samples[("streamproc_feature_mean", (
        ("feature", "monthly_spend"), ("model_id", "churn-model"), ("signal", "feature")))]
    assert 40 < mean < 50  # N(45, 12)
    last = samples[("streamproc_last_event_timestamp_seconds", (
        ("model_id", "churn-model"), ("topic", s.features_topic)))]
    assert last == pytest.approx(1.7e9 + (PER_MODEL - 1) * 0.01)

    dead = read_topic(broker.bootstrap, s.dead_letter_topic)
    reasons = sorted(dict(m.headers())["streamproc.reason"].decode() for m in dead)
    assert reasons == ["invalid_json", "schema"]
    assert {m.value() for m in dead} >= {b"{not json"}

    promtool = require_tool("promtool")
    lint = tmp_path / "metrics.txt"
    lint.write_text(text)
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                             text=True, timeout=30)
    assert checked.returncode == 0 and checked.stdout.strip() == "" and \
        checked.stderr.strip() == "", checked.stdout + checked.stderr


def test_readiness_follows_partition_assignment(broker) -> None:
    from streamproc.kafka.worker import Worker

    s = settings_for(broker, "health")
    worker = Worker(s)
    worker.start()
    try:
        base = worker.http.url.rsplit("/", 1)[0]  # type: ignore[union-attr]

        def status(path: str) -> int:
            try:
                with urllib.request.urlopen(base + path, timeout=5) as resp:
                    return resp.status
            except urllib.error.HTTPError as exc:
                return exc.code

        assert status("/livez") == 200
        assert status("/readyz") == 503  # no assignment yet: nothing consumed
        import threading

        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        wait_until(lambda: status("/readyz") == 200, 30, "ready after assignment")
    finally:
        worker.stop()
        thread.join(30)
