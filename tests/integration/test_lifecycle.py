"""Lifecycle and safe state: SIGTERM commits, forged or foreign snapshots never run or crash."""

from __future__ import annotations

import pickle
import time
import urllib.error
import urllib.request

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition
from pydantic import SecretStr

from streamproc.core import snapshot

from ..conftest import WorkerProcess, producer, settings_for, wait_until

pytestmark = pytest.mark.integration

N = 3000


def _produce(s, models: int = 4) -> dict[int, int]:
    """N feature events per model; returns partition -> last offset."""
    p = producer(s.broker)
    last: dict[int, int] = {}

    def on_delivery(err, msg) -> None:
        assert err is None
        last[msg.partition()] = max(last.get(msg.partition(), -1), msg.offset())

    for i in range(N):
        for m in range(models):
            event = {"model_id": f"m{m}", "model_version": "1", "event_id": f"{m}-{i}",
                     "timestamp": 1.7e9 + i, "features": {"x": (i * 7919 % 1000) / 100.0}}
            p.produce(s.features_topic, key=f"m{m}".encode(), value=orjson.dumps(event),
                      on_delivery=on_delivery)
    assert p.flush(30) == 0
    return last


def _state_records(s) -> list:
    """The records of partition 0 of the state topic."""
    c = Consumer({"bootstrap.servers": s.broker, "group.id": "check", "log_level": 3})
    c.assign([TopicPartition(s.state_topic, 0, 0)])
    records = [m for m in c.consume(100, 5) if not m.error()]
    c.close()
    return records


def _absorbed(w: WorkerProcess) -> float:
    return w.total("streamproc_monitor_observations", signal="feature", feature="x")


def test_sigterm_checkpoints_and_commits_within_bounded_time(broker, tmp_path) -> None:
    s = settings_for(broker, "sigterm", checkpoint_interval_seconds=3600.0)
    w = WorkerProcess(s, tmp_path / "w.log")
    w.wait_ready()
    last = _produce(s)
    wait_until(lambda: _absorbed(w) == 4 * N, 60, "all absorbed")
    started = time.monotonic()
    assert w.terminate(timeout=30) == 0
    assert time.monotonic() - started < 25
    # No periodic checkpoint ran (interval 1 h): the SIGTERM one committed everything.
    c = Consumer({"bootstrap.servers": s.broker, "group.id": s.group_id, "log_level": 3})
    try:
        committed = c.committed([TopicPartition(s.features_topic, p) for p in last], timeout=10)
    finally:
        c.close()
    assert {tp.partition: tp.offset for tp in committed} == {p: o + 1 for p, o in last.items()}


def test_forged_snapshot_pauses_one_partition_and_reset_state_rebuilds(broker, tmp_path) -> None:
    s = settings_for(broker, "forged", partitions=2)
    w = WorkerProcess(s, tmp_path / "w1.log")
    w.wait_ready()
    _produce(s, models=6)
    wait_until(lambda: _absorbed(w) == 6 * N, 60, "all absorbed")
    assert w.terminate() == 0

    # A writer of the state topic plants a pickle that claims to include everything.
    class Boom:
        def __reduce__(self):  # would run at unpickling time
            return (open, ("/tmp/streamproc-pwned", "w"))

    p = producer(s.broker)
    p.produce(s.state_topic, key=f"{s.group_id}/0".encode(), value=pickle.dumps(Boom()),
              partition=0, headers=[("streamproc.offsets", b'{"features": 999999999}')])
    assert p.flush(10) == 0

    w2 = WorkerProcess(s, tmp_path / "w2.log")
    wait_until(lambda: w2.status("/livez") == 200, 30, "worker live")
    wait_until(lambda: w2.total("streamproc_partitions_failed") == 1, 60, "partition 0 paused")
    assert w2.status("/readyz") == 503
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(w2.base + "/readyz", timeout=5)
    reason = info.value.read().decode()
    assert "partition 0" in reason and "not a streamproc snapshot" in reason
    assert "--reset-state" in reason
    assert w2.proc.poll() is None  # still running: no crash loop
    import os

    assert not os.path.exists("/tmp/streamproc-pwned")
    assert w2.terminate() == 0

    s_reset = s.model_copy(update={"reset_state": True})
    w3 = WorkerProcess(s_reset, tmp_path / "w3.log")
    w3.wait_ready()
    assert w3.total("streamproc_partitions_failed") == 0
    assert w3.terminate() == 0


def test_snapshots_signed_with_another_key_are_refused(broker, tmp_path) -> None:
    s = settings_for(broker, "signed", partitions=1, state_key="right key")
    w = WorkerProcess(s, tmp_path / "w1.log")
    w.wait_ready()
    _produce(s, models=2)
    wait_until(lambda: _absorbed(w) == 2 * N, 60, "all absorbed")
    assert w.terminate() == 0

    records = _state_records(s)
    assert records and all(snapshot.decode(m.value(), b"right key") for m in records)

    wrong = s.model_copy(update={"state_key": SecretStr("wrong key")})
    w2 = WorkerProcess(wrong, tmp_path / "w2.log")
    wait_until(lambda: w2.total("streamproc_partitions_failed") == 1, 60, "refused")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(w2.base + "/readyz", timeout=5)
    assert "signature does not match" in info.value.read().decode()
    assert w2.terminate() == 0


def _corrupt_river_state(state: dict) -> int:
    """Overwrite every ADWIN's River state bytes with garbage; return how many."""
    import base64

    hit = 0
    for model in state["models"]:
        for feature in model["features"]:
            for name, det in feature["values"]["detectors"]:
                if name == "adwin":
                    det["river"] = base64.b64encode(b"\x07 not River's bytes").decode()
                    hit += 1
    return hit


def test_corrupt_river_state_pauses_the_partition_instead_of_killing_the_worker(
    broker, tmp_path
) -> None:
    s = settings_for(broker, "riverblob", partitions=2)
    w = WorkerProcess(s, tmp_path / "w1.log")
    w.wait_ready()
    _produce(s, models=6)
    wait_until(lambda: _absorbed(w) == 6 * N, 60, "all absorbed")
    assert w.terminate() == 0

    state = snapshot.decode(_state_records(s)[-1].value())["state"]
    assert _corrupt_river_state(state) > 0
    p = producer(s.broker)
    p.produce(s.state_topic, key=f"{s.group_id}/0".encode(), value=snapshot.encode(state),
              partition=0, headers=[("streamproc.offsets", orjson.dumps(state["offsets"]))])
    assert p.flush(10) == 0

    # River's Rust code panics on such bytes (a BaseException): the worker must refuse
    # the snapshot like any bad one and keep serving the other partition.
    w2 = WorkerProcess(s, tmp_path / "w2.log")
    wait_until(lambda: w2.total("streamproc_partitions_failed") == 1, 60, "partition 0 paused")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(w2.base + "/readyz", timeout=5)
    reason = info.value.read().decode()
    assert "partition 0" in reason and "River's state bytes are corrupt" in reason
    assert w2.proc.poll() is None and w2.total("streamproc_partitions_assigned") == 1
    assert w2.terminate() == 0
