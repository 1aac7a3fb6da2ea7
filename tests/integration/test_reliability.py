"""Never lose or double-count: SIGKILL, scale-out and hand-over against one reference run.

One seeded stream (200k feature events + 200k predictions, 8 models, 4 partitions,
drifts in several signals) is produced once. An uninterrupted single-worker run is
the reference; every other run of the same stream must end with the same monitor
state (the snapshots, compared as JSON), the same alert ids and the same
observation gauges.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from streamproc.config import Settings

from ..conftest import (
    WorkerProcess,
    assert_same_run,
    event_pair,
    input_topics,
    read_alerts,
    settings_for,
    stored_states,
    wait_until,
)

pytestmark = pytest.mark.integration

MODELS = 8
PER_MODEL = 25_000
TOTAL = MODELS * PER_MODEL
PARTITIONS = 4


def _build_stream(seed: int) -> list[tuple[str, bytes, bytes]]:
    """(topic kind, key, value) in production order."""
    rng = np.random.default_rng(seed)
    out: list[tuple[str, bytes, bytes]] = []
    cats = ["a", "b", "c", "d"]
    for i in range(PER_MODEL):
        late = i >= int(PER_MODEL * 0.6)
        for m in range(MODELS):
            model = f"model-{m}"
            x = rng.normal(1.0 if (m == 0 and late) else 0.0, 1.0)
            y = rng.lognormal(0.0, 0.8 if (m == 5 and late) else 0.5)
            p = [0.25] * 4 if (m == 3 and late) else [0.55, 0.25, 0.15, 0.05]
            features = {"x": round(float(x), 6), "y": round(float(y), 6),
                        "n": int(rng.poisson(20)), "c": str(rng.choice(cats, p=p)),
                        "flag": bool(rng.random() < 0.3)}
            score = rng.normal(0.8 if (m == 6 and late) else 0.5, 0.1)
            out += event_pair(model, i, features, round(float(score), 6))
    return out


@pytest.fixture(scope="module")
def inputs(broker) -> dict[str, str]:
    return input_topics(broker, "rel", PARTITIONS, _build_stream(seed=2026))


def _settings(broker, inputs: dict[str, str], name: str) -> Settings:
    return settings_for(broker, name, features_topic=inputs["features"],
                        predictions_topic=inputs["predictions"], labels_topic=inputs["labels"],
                        partitions=PARTITIONS)


def _done(worker: WorkerProcess) -> bool:
    """Every feature and every prediction is in this worker's monitors."""
    return worker.absorbed() >= TOTAL and worker.total(
        "streamproc_monitor_observations", signal="prediction") >= TOTAL


def _outcome(s: Settings, final: WorkerProcess) -> dict[str, Any]:
    gauges = {k: v for k, v in final.samples().items()
              if k[0] == "streamproc_monitor_observations"}
    assert final.terminate() == 0  # SIGTERM: final checkpoint, clean exit
    alerts = read_alerts(s.broker, s.alerts_topic)
    return {"states": stored_states(s, PARTITIONS), "alerts": alerts, "gauges": gauges}


def _run_to_end(worker: WorkerProcess, timeout: float = 240) -> None:
    wait_until(lambda: _done(worker), timeout, "all events absorbed", 0.5)
    worker.wait_ready()


@pytest.fixture(scope="module")
def reference(broker, inputs, tmp_path_factory) -> dict[str, Any]:
    s = _settings(broker, inputs, "reference")
    worker = WorkerProcess(s, tmp_path_factory.mktemp("ref") / "worker.log")
    worker.wait_ready()
    _run_to_end(worker)
    outcome = _outcome(s, worker)
    assert len({a["alert_id"] for a in outcome["alerts"]}) >= 4
    return outcome


def test_reference_run_detects_the_planted_drifts(reference) -> None:
    found = {(a["model_id"], a["signal"], a["feature"]) for a in reference["alerts"]}
    assert {("model-0", "feature", "x"), ("model-3", "feature", "c"),
            ("model-5", "feature", "y"), ("model-6", "prediction", None)} <= found
    stable = {(m, f) for m, _, f in found} & {(f"model-{m}", f) for m in (1, 2, 4, 7)
                                              for f in ("x", "y", "n", "c", "flag")}
    assert not stable, f"false alarms on stable models: {stable}"
    counts = {k: v for k, v in reference["gauges"].items() if ("feature", "x") in k[1]}
    assert sum(counts.values()) == TOTAL


def _crash_run(s: Settings, kill_points: list[int], tmp_path) -> WorkerProcess:
    """SIGKILL a worker each time its monitors pass a kill point; return the last one."""
    for k, point in enumerate(kill_points):
        worker = WorkerProcess(s, tmp_path / f"worker-{k}.log")
        worker.wait_ready(90)
        wait_until(lambda w=worker, p=point: w.absorbed() >= p, 240, f"{point} absorbed", 0.05)
        worker.kill()  # SIGKILL: no final checkpoint, no leave-group
    final = WorkerProcess(s, tmp_path / "worker-final.log")
    final.wait_ready(90)
    resumed_at = wait_until(lambda: final.absorbed(), 30, "restored state published")
    assert 0 < resumed_at <= TOTAL  # it resumed from a snapshot, not from scratch
    _run_to_end(final)
    return final


def test_sigkill_at_random_points_ends_in_the_same_state(broker, inputs, reference,
                                                         tmp_path) -> None:
    s = _settings(broker, inputs, "crash")
    kill_points = sorted(random.Random(404).sample(range(TOTAL // 10, TOTAL - TOTAL // 10), 3))
    final = _crash_run(s, kill_points, tmp_path)
    assert_same_run(_outcome(s, final), reference)


@pytest.mark.slow
def test_soak_ten_kills_end_in_the_same_state(broker, inputs, reference, tmp_path) -> None:
    s = _settings(broker, inputs, "soak")
    kill_points = sorted(random.Random(77).sample(range(TOTAL // 20, TOTAL - TOTAL // 20), 10))
    final = _crash_run(s, kill_points, tmp_path)
    assert_same_run(_outcome(s, final), reference)


def test_workers_joining_and_leaving_hand_state_over(broker, inputs, reference,
                                                     tmp_path) -> None:
    s = _settings(broker, inputs, "scale")
    first = WorkerProcess(s, tmp_path / "w1.log")
    first.wait_ready()
    wait_until(lambda: first.absorbed() >= TOTAL // 4, 240, "a quarter absorbed", 0.05)
    second = WorkerProcess(s, tmp_path / "w2.log")
    third = WorkerProcess(s, tmp_path / "w3.log")
    for w in (second, third):
        w.wait_ready(90)

    def absorbed() -> float:
        return sum(w.absorbed() for w in (first, second, third) if w.proc.poll() is None)

    wait_until(lambda: all(w.total("streamproc_partitions_assigned") > 0
                           for w in (first, second, third)), 60, "three workers share")
    wait_until(lambda: absorbed() >= TOTAL // 2, 240, "half absorbed", 0.05)
    assert second.terminate() == 0  # leaves mid-stream: hands its partitions over
    wait_until(lambda: absorbed() >= TOTAL, 240, "all absorbed", 0.5)
    assert first.terminate() == 0  # the last worker standing takes every partition over
    _run_to_end(third)
    assert_same_run(_outcome(s, third), reference)


