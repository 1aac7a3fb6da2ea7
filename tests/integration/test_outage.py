"""Broker outage: frozen for 30 s (SIGSTOP), then back (SIGCONT).

The worker resumes by itself (same process) and ends in the same state as an
undisturbed run; the SDK buffers what the serving layer sends during the outage
and delivers it afterwards, and reports, rather than drops, what it could not
deliver within its delivery timeout.
"""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from streamproc.broker import EmbeddedBroker, free_port
from streamproc.client import DeliveryError, EventProducer
from streamproc.kafka.state_store import StateStore

from ..conftest import WorkerProcess, read_alerts, settings_for, wait_until

pytestmark = pytest.mark.integration

MODELS = 4
PER_MODEL = 6000
FREEZE_SECONDS = 30


def _send(events: EventProducer, start: int, stop: int, s) -> None:
    for i in range(start, stop):
        for m in range(MODELS):
            rng = np.random.default_rng([m, i])
            shift = 1.5 if (m == 0 and i >= PER_MODEL * 3 // 4) else 0.0
            events.send_features(f"m{m}", "1", f"{m}-{i}",
                                 {"x": round(float(rng.normal(shift, 1)), 5),
                                  "k": str(rng.choice(["a", "b"]))}, 1.7e9 + i)
            events.send_prediction(f"m{m}", "1", f"{m}-{i}", round(float(rng.random()), 5),
                                   timestamp=1.7e9 + i)


def _absorbed(w: WorkerProcess) -> float:
    """Events absorbed on both topics (the smaller count: states are compared after it)."""
    features = w.total("streamproc_monitor_observations", signal="feature", feature="x")
    predictions = w.total("streamproc_monitor_observations", signal="prediction")
    return min(features, predictions)


def _states(s) -> dict[int, object]:
    store = StateStore(s)
    try:
        return {p: store.load(p) for p in range(4)}
    finally:
        store.close()


def test_worker_and_sdk_ride_out_a_frozen_broker(tmp_path) -> None:
    with EmbeddedBroker(free_port(), log_file=tmp_path / "broker.log") as broker:
        s = settings_for(broker, "outage")
        topics = {"features_topic": s.features_topic, "predictions_topic": s.predictions_topic}
        worker = WorkerProcess(s, tmp_path / "worker.log")
        worker.wait_ready()
        pid = worker.proc.pid
        half = PER_MODEL // 2
        with EventProducer(broker.bootstrap, **topics) as events:
            _send(events, 0, half, s)
        wait_until(lambda: _absorbed(worker) >= MODELS * half, 60, "first half absorbed")

        broker.pause()
        frozen_at = time.monotonic()
        sender = EventProducer(broker.bootstrap, **topics)
        thread = threading.Thread(target=_send, args=(sender, half, PER_MODEL, s))
        thread.start()  # the serving layer keeps sending into the outage
        impatient = EventProducer(broker.bootstrap, delivery_timeout_s=3, **topics)
        impatient.send_features("lost", "1", "e1", {"x": 1.0})
        with pytest.raises(DeliveryError) as failed:
            impatient.flush(20)
        assert [f.key for f in failed.value.failures] == [b"lost"]
        assert json.loads(failed.value.failures[0].value)["event_id"] == "e1"
        thread.join(60)
        time.sleep(max(0.0, FREEZE_SECONDS - (time.monotonic() - frozen_at)))
        assert worker.status("/livez") == 200  # alive while the broker is down
        broker.resume()

        sender.flush(120)  # everything buffered during the outage is delivered
        assert sender.delivered == sender.sent == (PER_MODEL - half) * MODELS * 2
        wait_until(lambda: _absorbed(worker) >= MODELS * PER_MODEL, 180, "all absorbed", 0.5)
        worker.wait_ready(90)
        assert worker.proc.pid == pid and worker.proc.poll() is None  # no restart
        assert worker.terminate() == 0
        del sender, impatient  # their connections close with the broker still up
        outage = {"states": _states(s), "alerts": read_alerts(s.broker, s.alerts_topic)}

        calm = settings_for(broker, "calm", **topics)
        reference = WorkerProcess(calm, tmp_path / "reference.log")
        reference.wait_ready()
        wait_until(lambda: _absorbed(reference) >= MODELS * PER_MODEL, 120, "reference done")
        assert reference.terminate() == 0
        expected = {"states": _states(calm), "alerts": read_alerts(calm.broker, calm.alerts_topic)}

    assert {a["alert_id"] for a in outage["alerts"]} == {a["alert_id"] for a in expected["alerts"]}
    assert any(a["model_id"] == "m0" and a["feature"] == "x" for a in expected["alerts"])
    for p in range(4):
        got, want = outage["states"][p], expected["states"][p]
        assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True), p
