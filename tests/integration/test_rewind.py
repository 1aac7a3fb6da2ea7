"""A batch the core fails on leaves no half-applied state behind.

The worker rewinds the partition to its last good snapshot, consumes again, and
dead-letters the failed batch's events on the way: its monitors end exactly as if
those events had never been valid, nothing is published twice, and it keeps going.
"""

from __future__ import annotations

import json

import numpy as np
import orjson
import pytest

from streamproc.core.contracts.events import InputEvent
from streamproc.core.units.feature import FeatureMonitor
from streamproc.core.units.partition import PartitionMonitors

from ..conftest import producer, read_topic, running_worker, settings_for, wait_until

pytestmark = pytest.mark.integration

POISON = 666.0  # the value the broken monitor cannot take
N = 6000


def _events(n: int, poison_at: int) -> list[dict]:
    rng = np.random.default_rng(5)
    out = []
    for i in range(n):
        x = POISON if i == poison_at else float(rng.normal(10, 2))
        out.append({"model_id": "m", "model_version": "1", "event_id": f"e{i}",
                    "timestamp": 1.7e9 + i, "features": {"x": x, "y": float(rng.normal())}})
    return out


def test_failed_batch_is_dead_lettered_and_state_matches_a_run_without_it(
    broker, monkeypatch
) -> None:
    real_update = FeatureMonitor.update

    def broken(self, column, *rest):  # type: ignore[no-untyped-def]
        out = real_update(self, column, *rest)  # half of the batch is applied first
        if POISON in column:
            raise RuntimeError("monitor bug")
        return out

    monkeypatch.setattr(FeatureMonitor, "update", broken)
    s = settings_for(broker, "rewind", partitions=1, checkpoint_interval_seconds=0.5)
    events = _events(N, poison_at=4000)
    with running_worker(s) as worker:
        p = producer(broker)
        for e in events[:3000]:
            p.produce(s.features_topic, key=b"m", value=orjson.dumps(e))
        p.flush()

        def consumed() -> float:
            return worker.registry.get_sample_value(
                "streamproc_events_consumed_total", {"model_id": "m", "topic": s.features_topic}
            ) or 0.0

        wait_until(lambda: consumed() == 3000, 30, "first half consumed")
        wait_until(lambda: worker.registry.get_sample_value(
            "streamproc_checkpoints_total", {"outcome": "written"}), 10, "a checkpoint")
        for e in events[3000:]:
            p.produce(s.features_topic, key=b"m", value=orjson.dumps(e))
        p.flush()

        def failed() -> float:
            return worker.registry.get_sample_value(
                "streamproc_events_invalid_total",
                {"topic": s.features_topic, "reason": "processing_error"},
            ) or 0.0

        wait_until(lambda: consumed() + failed() == N, 60, "every event absorbed")
        assert worker.registry.get_sample_value("streamproc_partition_rewinds_total") == 1.0
        state = worker.snapshot_states()[0]

    letters = read_topic(broker.bootstrap, s.dead_letter_topic)
    offsets = [m.offset() for m in letters]
    reasons = {dict(m.headers())["streamproc.reason"] for m in letters}
    assert reasons == {b"processing_error"}
    source = sorted(int(dict(m.headers())["streamproc.source.offset"]) for m in letters)
    assert len(set(source)) == len(source) == len(offsets)
    assert 4000 in source and source == list(range(source[0], source[-1] + 1))

    # The same events without the dead-lettered ones, in one pass, end in the same state.
    monkeypatch.setattr(FeatureMonitor, "update", real_update)
    dead = set(source)
    reference = PartitionMonitors(s.detection_config(), 0)
    kept = [InputEvent("features", i, "m", "1", e["event_id"], e["timestamp"], e)
            for i, e in enumerate(events) if i not in dead]
    reference.apply("features", s.features_topic, kept, detected_at=0.0, last_offset=N - 1)
    assert json.dumps(state, sort_keys=True) == json.dumps(reference.to_state(), sort_keys=True)

