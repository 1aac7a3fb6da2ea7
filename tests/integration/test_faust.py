"""The Faust engine on the embedded broker: same alerts and state as the default engine,
the same state after kill -9, and the README's example app, run as a user runs it.

One seeded stream (4 models, features and predictions, drifts in three signals) is
produced once. The default engine and `streamproc worker --engine faust` read it side
by side in their own groups and state topics; every other Faust run of it must end
with the same snapshots (compared as JSON), alert ids and observation gauges.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from streamproc.client import EventProducer
from streamproc.config import Settings
from streamproc.core.contracts.events import InputEvent
from streamproc.core.units.partition import PartitionMonitors
from streamproc.synthetic import demo_models

from ..conftest import (
    REPO,
    WorkerProcess,
    assert_same_run,
    event_pair,
    input_topics,
    producer,
    read_alerts,
    read_topic,
    settings_for,
    stored_states,
    wait_until,
)

pytestmark = pytest.mark.integration

MODELS = 4
PER_MODEL = 3000
TOTAL = MODELS * PER_MODEL
PARTITIONS = 4
SHIFT_AT = PER_MODEL // 2
# A short reference window and group timeouts keep the runs short (Tansu waits a dead
# member's session timeout before the next join).
FAST = {"session_timeout_ms": 3000, "heartbeat_interval_ms": 300,
        "detection": {"reference_size": 500}}


def _build_stream(seed: int) -> list[tuple[str, bytes, bytes]]:
    """(topic kind, key, value) in production order."""
    rng = np.random.default_rng(seed)
    out: list[tuple[str, bytes, bytes]] = []
    cats = ["a", "b", "c", "d"]
    for i in range(PER_MODEL):
        late = i >= SHIFT_AT
        for m in range(MODELS):
            model = f"model-{m}"
            p = [0.25] * 4 if (m == 3 and late) else [0.55, 0.25, 0.15, 0.05]
            features = {"x": round(float(rng.normal(1.0 if (m == 0 and late) else 0.0)), 6),
                        "y": round(float(rng.lognormal(0.0, 0.5)), 6),
                        "c": str(rng.choice(cats, p=p))}
            score = rng.normal(0.8 if (m == 2 and late) else 0.5, 0.1)
            out += event_pair(model, i, features, round(float(score), 6))
    return out


@pytest.fixture(scope="module")
def inputs(broker) -> dict[str, str]:
    return input_topics(broker, "faust", PARTITIONS, _build_stream(seed=909))


def _settings(broker, inputs: dict[str, str], name: str, **overrides: Any) -> Settings:
    return settings_for(broker, name, features_topic=inputs["features"],
                        predictions_topic=inputs["predictions"], labels_topic=inputs["labels"],
                        partitions=PARTITIONS, **{**FAST, **overrides})


def _done(worker: WorkerProcess) -> bool:
    return worker.absorbed() >= TOTAL and worker.total(
        "streamproc_monitor_observations", signal="prediction") >= TOTAL


def _outcome(s: Settings, worker: WorkerProcess) -> dict[str, Any]:
    wait_until(lambda: _done(worker), 240, "all events absorbed", 0.25)
    gauges = {k: v for k, v in worker.samples().items()
              if k[0] == "streamproc_monitor_observations"}
    assert worker.terminate() == 0  # SIGTERM: final checkpoint, clean exit
    return {"states": stored_states(s, PARTITIONS),
            "alerts": read_alerts(s.broker, s.alerts_topic), "gauges": gauges}


@pytest.fixture(scope="module")
def engines(broker, inputs, tmp_path_factory) -> dict[str, dict[str, Any]]:
    """Both engines over the same stream, side by side, each in its own group."""
    logs = tmp_path_factory.mktemp("engines")
    runs = {}
    for engine in ("librdkafka", "faust"):
        s = _settings(broker, inputs, engine, engine=engine)
        runs[engine] = (s, WorkerProcess(s, logs / f"{engine}.log"))
    for _, worker in runs.values():
        worker.wait_ready(90)
    return {engine: _outcome(s, worker) for engine, (s, worker) in runs.items()}


def test_faust_engine_alerts_and_state_equal_the_default_engines(engines) -> None:
    default, faust = engines["librdkafka"], engines["faust"]
    found = {(a["model_id"], a["signal"], a["feature"]) for a in faust["alerts"]}
    assert {("model-0", "feature", "x"), ("model-2", "prediction", None),
            ("model-3", "feature", "c")} <= found
    assert not {m for m, _, _ in found} & {"model-1"}, f"false alarms: {found}"
    assert_same_run(faust, default)
    assert sum(v for k, v in faust["gauges"].items() if ("feature", "x") in k[1]) == TOTAL


def _committed(s: Settings) -> dict[tuple[str, int], int]:
    reader = Consumer({"bootstrap.servers": s.broker, "group.id": s.group_id, "log_level": 3})
    try:
        tps = [TopicPartition(t, p) for t in s.input_topics().values() for p in range(PARTITIONS)]
        return {(tp.topic, tp.partition): tp.offset for tp in reader.committed(tps, timeout=10)}
    finally:
        reader.close()


def _snapshot_offsets(s: Settings) -> dict[tuple[str, int], int]:
    out = {}
    for p, state in stored_states(s, PARTITIONS).items():
        for kind, topic in s.input_topics().items():
            out[(topic, p)] = int((state or {"offsets": {}})["offsets"].get(kind, -1))
    return out


def test_sigkill_of_a_faust_worker_ends_in_the_same_state(broker, inputs, engines,
                                                          tmp_path) -> None:
    s = _settings(broker, inputs, "faust-crash", engine="faust")
    # The first run is killed at its first checkpoint that holds events, well before the
    # end of the stream: the monitor gauges are published once a second, so a threshold
    # on them lands anywhere within a second's progress (several thousand events).
    first = WorkerProcess(s.model_copy(update={"checkpoint_interval_seconds": 0.1}),
                          tmp_path / "worker-0.log")
    first.wait_ready(90)
    wait_until(lambda: first.absorbed() > 0, 120, "first events absorbed", 0.02)
    written = first.total("streamproc_checkpoints_total", outcome="written")
    wait_until(lambda: first.total("streamproc_checkpoints_total", outcome="written") > written,
               30, "a checkpoint of them written", 0.02)
    first.kill()  # SIGKILL: no final checkpoint, no leave-group
    # The second run snapshots nothing new while Faust commits what it acknowledged
    # (every 10k events or 2.8 s). It is killed once the group's committed offsets are
    # ahead of the snapshots: the next run must not trust them.
    lazy = s.model_copy(update={"checkpoint_interval_seconds": 600.0})
    second = WorkerProcess(lazy, tmp_path / "worker-1.log")
    second.wait_ready(90)
    restored = wait_until(lambda: second.absorbed(), 30, "restored state published")
    assert 0 < restored < TOTAL  # events are left for the second run

    def ahead() -> list[tuple[str, int]]:
        committed, snapshots = _committed(s), _snapshot_offsets(s)
        return [tp for tp, offset in committed.items() if offset > snapshots[tp] + 1]

    wait_until(ahead, 60, "committed offsets ahead of the snapshots", 0.2)
    second.kill()
    assert ahead()
    final = WorkerProcess(s, tmp_path / "worker-final.log")
    final.wait_ready(90)
    assert 0 < wait_until(lambda: final.absorbed(), 30, "restored state") < TOTAL
    assert_same_run(_outcome(s, final), engines["faust"])


def test_readme_example_app_alerts_on_the_shifted_feature_only(broker, tmp_path) -> None:
    s = settings_for(broker, "example", session_timeout_ms=3000, heartbeat_interval_ms=300)
    # Faust's own settings from its environment variables, as a user would set them.
    env = {"KAFKA_BROKER_URL": f"kafka://{broker.bootstrap}", "APP_DATADIR": str(tmp_path),
           "BROKER_SESSION_TIMEOUT": "3", "BROKER_HEARTBEAT_INTERVAL": "0.3"}
    app = WorkerProcess(s, tmp_path / "example.log",
                        command=[sys.executable, "examples/faust_app.py", "worker", "-l", "info"],
                        env=env)
    app.wait_ready(90)
    # The demo's traffic up to event 5000: churn-model's shift starts at event 4500.
    per_model = 5000
    with EventProducer(broker.bootstrap, features_topic=s.features_topic,
                       predictions_topic=s.predictions_topic) as events:
        for model in demo_models(7, 9000):
            for e in model.events(0, per_model):
                eid, ts = f"{model.model_id}-{e.index}", 1.7e9 + e.index * 0.01
                events.send_features(model.model_id, model.version, eid, e.features, ts)
                events.send_prediction(model.model_id, model.version, eid, e.prediction,
                                       timestamp=ts)
    wait_until(lambda: all(
        app.total("streamproc_events_consumed_total", model_id=m, topic=t) == per_model
        for m in ("churn-model", "fraud-detector")
        for t in (s.features_topic, s.predictions_topic)), 120, "all events consumed", 0.25)
    alerts = wait_until(lambda: read_alerts(broker.bootstrap, s.alerts_topic), 20, "alerts")
    assert app.terminate() == 0
    # The default engine's alert on this traffic (tests/integration/test_worker.py).
    assert [(a["model_id"], a["signal"], a["feature"], a["detector"], a["position"])
            for a in alerts] == [("churn-model", "feature", "avg_session_minutes",
                                  "cusum", 4559)]
    # The README shows this file as it is.
    assert (REPO / "examples" / "faust_app.py").read_text() in (REPO / "README.md").read_text()


# Runs `streamproc worker --engine faust` with a monitor that fails on one value (after
# applying half of its batch), as tests/integration/test_rewind.py does in-process.
_POISONED_WORKER = """
import sys
from streamproc.core.units import FeatureMonitor
from streamproc.cli import main

real_update = FeatureMonitor.update

def broken(self, column, *rest):
    out = real_update(self, column, *rest)
    if 666.0 in column:
        raise RuntimeError("monitor bug")
    return out

FeatureMonitor.update = broken
sys.exit(main(["worker", "--engine", "faust"]))
"""


def test_failed_batch_rewinds_the_partition_and_is_dead_lettered(broker, tmp_path) -> None:
    s = settings_for(broker, "faust-rewind", partitions=1, checkpoint_interval_seconds=0.5,
                     **FAST)
    worker = WorkerProcess(s, tmp_path / "worker.log",
                           command=[sys.executable, "-c", _POISONED_WORKER])
    worker.wait_ready(90)
    n, poison_at = 6000, 4000
    rng = np.random.default_rng(5)
    events = [{"model_id": "m", "model_version": "1", "event_id": f"e{i}", "timestamp": 1.7e9 + i,
               "features": {"x": 666.0 if i == poison_at else float(rng.normal(10, 2)),
                            "y": float(rng.normal())}} for i in range(n)]
    p = producer(broker)

    def send(batch: list[dict[str, Any]]) -> None:
        for e in batch:
            p.produce(s.features_topic, key=b"m", value=orjson.dumps(e))
        p.flush()

    def consumed() -> float:
        return worker.total("streamproc_events_consumed_total", topic=s.features_topic)

    def failed() -> float:
        return worker.total("streamproc_events_invalid_total", reason="processing_error")

    send(events[:3000])
    wait_until(lambda: consumed() == 3000, 60, "first half consumed")
    # The first snapshot is written on assignment; wait for one that includes events.
    wait_until(lambda: worker.total("streamproc_checkpoints_total", outcome="written") >= 2,
               10, "a checkpoint")
    send(events[3000:])
    wait_until(lambda: consumed() + failed() == n, 60, "every event absorbed")
    assert worker.total("streamproc_partition_rewinds_total") == 1.0
    dead_count = failed()
    assert worker.terminate() == 0

    letters = read_topic(broker.bootstrap, s.dead_letter_topic)
    assert len(letters) == dead_count
    assert {dict(m.headers())["streamproc.reason"] for m in letters} == {b"processing_error"}
    source = sorted(int(dict(m.headers())["streamproc.source.offset"]) for m in letters)
    assert len(set(source)) == len(source) == len(letters)
    assert poison_at in source and source == list(range(source[0], source[-1] + 1))

    # The same events without the dead-lettered ones, in one pass, end in the same state.
    dead = set(source)
    reference = PartitionMonitors(s.detection_config(), 0)
    kept = [InputEvent("features", i, "m", "1", e["event_id"], e["timestamp"], e)
            for i, e in enumerate(events) if i not in dead]
    reference.apply("features", s.features_topic, kept, detected_at=0.0, last_offset=n - 1)
    assert json.dumps(stored_states(s, 1)[0], sort_keys=True) == json.dumps(
        reference.to_state(), sort_keys=True)


@pytest.mark.slow
def test_faust_workers_joining_and_leaving_hand_state_over(broker, inputs, engines,
                                                           tmp_path) -> None:
    s = _settings(broker, inputs, "faust-scale", engine="faust")
    first = WorkerProcess(s, tmp_path / "w1.log")
    first.wait_ready(90)
    wait_until(lambda: first.absorbed() >= TOTAL // 4, 120, "a quarter absorbed", 0.05)
    second = WorkerProcess(s, tmp_path / "w2.log")
    second.wait_ready(90)
    # Faust's assignor gives each member whole partition numbers of the three topics.
    wait_until(lambda: all(w.total("streamproc_partitions_assigned") > 0
                           for w in (first, second)), 60, "two workers share")
    assert first.total("streamproc_partitions_failed") == 0
    assert second.total("streamproc_partitions_failed") == 0
    assert first.total("streamproc_partitions_assigned") + second.total(
        "streamproc_partitions_assigned") == PARTITIONS
    assert first.terminate() == 0  # leaves mid-stream: hands its partitions over
    assert_same_run(_outcome(s, second), engines["faust"])
