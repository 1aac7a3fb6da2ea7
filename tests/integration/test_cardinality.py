"""A producer bug floods a worker with distinct model ids: it stays bounded and useful.

One feature event (two features) from each of N distinct ``model_id``s, then a listed
model that drifts, through one real ``streamproc worker`` process on the embedded
broker. The worker holds ``max_models`` of the flood's models and dead-letters the
others' events with reason ``too_many_models`` (counted); it stays ready, its RSS
(``/proc/<pid>/status``) stays under 1 GB and a whole ``/metrics`` page under 2 MB, and
the listed model still alerts. The issue's figure: 200,000 ids with the default
``max_models`` of 1,000 (~25 s here, so in the default suite).
"""

from __future__ import annotations

import urllib.request
from pathlib import Path

import numpy as np
import orjson
import pytest

from ..conftest import (
    WorkerProcess,
    producer,
    read_alerts,
    read_topic,
    settings_for,
    wait_until,
    worker_env,
)

pytestmark = pytest.mark.integration

LISTED = "payments"
PARTITIONS = 2
MB = 1024 * 1024
RSS_LIMIT = 1024 * MB  # the bounds
METRICS_LIMIT = 2 * MB
REFERENCE, SHIFTED = 2500, 1500  # the listed model's events before and after its shift
# (the default reference is its first 2,000 events)


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def _produce(bootstrap: str, topic: str, ids: int) -> None:
    """The listed model's reference, the flood, then the listed model shifted by 3 sd."""
    rng = np.random.default_rng(20)
    p = producer(bootstrap)

    def send(model: str, body: dict[str, object]) -> None:
        while True:
            try:
                p.produce(topic, key=model.encode(), value=orjson.dumps(body))
                return
            except BufferError:
                p.poll(0.1)

    def listed(i: int, shift: float) -> None:
        send(LISTED, {"model_id": LISTED, "model_version": "1", "event_id": f"p{i}",
                      "timestamp": 1.7e9 + i * 0.01,
                      "features": {"amount": float(rng.normal(shift, 1.0)),
                                   "hour": float(rng.normal())}})

    for i in range(REFERENCE):
        listed(i, 0.0)
    for i in range(ids):
        model = f"bug-{i}"
        send(model, {"model_id": model, "model_version": "1", "event_id": f"b{i}",
                     "timestamp": 1.7e9 + 20 + i * 1e-4,
                     "features": {"a": i % 7, "b": 0.5 * (i % 11)}})
    for i in range(REFERENCE, REFERENCE + SHIFTED):
        listed(i, 3.0)
    assert p.flush(120) == 0


IDS = 200_000


@pytest.mark.timeout(300)
def test_a_flood_of_model_ids_stays_bounded(broker, tmp_path) -> None:
    s = settings_for(broker, "flood", partitions=PARTITIONS, checkpoint_interval_seconds=2.0)
    ids, max_models = IDS, s.max_models  # the default bound
    _produce(broker.bootstrap, s.features_topic, ids)
    env = {**worker_env(s), "STREAMPROC_MODELS": orjson.dumps({LISTED: {}}).decode()}
    w = WorkerProcess(s, tmp_path / "worker.log", env=env)
    total = REFERENCE + ids + SHIFTED
    refused = ids - max_models  # each partition's places go to its first flood ids
    peak = 0
    not_ready_after_ready = 0

    def drained() -> bool:
        nonlocal peak, not_ready_after_ready
        assert w.proc.poll() is None, f"worker exited; see {w.log}"
        peak = max(peak, _rss(w.proc.pid))
        if w.status("/readyz") != 200:
            not_ready_after_ready += 1
        done = (w.total("streamproc_events_consumed_total")
                + w.total("streamproc_events_invalid_total", reason="too_many_models"))
        return done >= total

    try:
        w.wait_ready(90)
        wait_until(drained, 240, f"{total:,} events (see {w.log})", interval=1.0)
        wait_until(lambda: any(a["model_id"] == LISTED and a["feature"] == "amount"
                               for a in read_alerts(broker.bootstrap, s.alerts_topic)),
                   60, "the listed model's alert on its shifted feature")
        with urllib.request.urlopen(w.base + "/metrics", timeout=30) as resp:
            page = resp.read()
        peak = max(peak, _rss(w.proc.pid))
        assert w.status("/readyz") == 200
        counted = w.total("streamproc_events_invalid_total", reason="too_many_models")
    finally:
        assert w.terminate() == 0
    assert not_ready_after_ready == 0, "the worker stopped being ready under the flood"
    assert peak <= RSS_LIMIT, f"peak RSS {peak / MB:.0f} MB"
    assert len(page) <= METRICS_LIMIT, f"/metrics is {len(page) / MB:.2f} MB"
    assert counted == refused
    letters = read_topic(broker.bootstrap, s.dead_letter_topic, timeout=60)
    reasons = [dict(m.headers() or [])["streamproc.reason"] for m in letters]
    assert reasons.count(b"too_many_models") == refused and len(letters) == refused
    assert {m.key() for m in letters}.isdisjoint({LISTED.encode()})
    print(f"{ids:,} ids: peak RSS {peak / MB:.0f} MB, /metrics {len(page) / 1024:.0f} KiB, "
          f"{refused:,} too_many_models dead letters")
