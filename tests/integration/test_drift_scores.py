"""Detector internals on /metrics: a drifting feature's score climbs towards 1, a stable
one's stays low, and each monitor's estimated dependence is exported."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ..conftest import producer, running_worker, scrape, settings_for, wait_until

pytestmark = pytest.mark.integration

CHUNK = 100


def _scores(url: str) -> dict[tuple[str, str], float]:
    out = {}
    for family in text_string_to_metric_families(scrape(url)):
        for s in family.samples:
            if s.name == "streamproc_drift_score" and s.labels["detector"] == "cusum":
                out[(s.labels["feature"], s.labels["detector"])] = s.value
    return out


def _alerts(registry, feature: str) -> float:
    return sum(s.value for metric in registry.collect() for s in metric.samples
               if s.name == "streamproc_drift_alerts_total"
               and s.labels.get("feature") == feature)


def test_drift_score_of_a_drifting_feature_climbs_while_a_stable_one_stays_low(broker) -> None:
    s = settings_for(broker, "scores", partitions=1)
    rng = np.random.default_rng(21)
    with running_worker(s) as worker:
        assert worker.http is not None
        url = worker.http.url
        p = producer(broker)
        sent = 0

        def send(n: int, shift: float) -> None:
            nonlocal sent
            for _ in range(n):
                event = {"model_id": "m", "model_version": "1", "event_id": f"e{sent}",
                         "timestamp": 1.7e9 + sent,
                         "features": {"stable": float(rng.normal(5, 1)),
                                      "drifting": float(rng.normal(5 + shift, 1))}}
                p.produce(s.features_topic, key=b"m", value=orjson.dumps(event))
                sent += 1
            p.flush()
            wait_until(lambda: worker.registry.get_sample_value(
                "streamproc_events_consumed_total",
                {"model_id": "m", "topic": s.features_topic}) == sent, 30, "consumed")
            worker.publish_view()

        send(2200, 0.0)  # the reference, and a little monitoring
        history = []
        for _ in range(40):  # a 0.25 sd shift: the CUSUM climbs for a few hundred events
            send(CHUNK, 0.25)
            if _alerts(worker.registry, "drifting"):
                break  # the monitor alerted and re-baselines: its scores start again
            scores = _scores(url)
            history.append((scores[("drifting", "cusum")], scores[("stable", "cusum")]))
        drifting = [d for d, _ in history]
        stable = [st for _, st in history]
        assert max(drifting) > 0.5 and drifting[-1] == max(drifting)  # climbs to the alert
        assert max(stable) < 0.5
        text = scrape(url)
        assert 'streamproc_monitor_dependence{feature="stable",model_id="m",signal="feature"} 1.0' \
            in text
        assert ('streamproc_monitor_stage{feature="stable",model_id="m",signal="feature",'
                'stage="detecting"} 1.0') in text
