"""Every signal through the broker: data quality, class predictions, joined labels."""

from __future__ import annotations

import numpy as np
import pytest

from streamproc.client import EventProducer

from ..conftest import read_alerts, running_worker, settings_for, wait_until

pytestmark = pytest.mark.integration

N = 12_000
CHANGE = 6_000


def _traffic(bootstrap: str, s: object) -> None:
    rng = np.random.default_rng(17)
    with EventProducer(bootstrap, features_topic=s.features_topic,  # type: ignore[attr-defined]
                       predictions_topic=s.predictions_topic,  # type: ignore[attr-defined]
                       labels_topic=s.labels_topic) as events:  # type: ignore[attr-defined]
        for i in range(N):
            ts = 1.7e9 + i
            late = i >= CHANGE
            # Classifier: a feature disappears, another changes type, errors rise.
            feats = {"age": round(float(rng.normal(40, 8)), 3),
                     "tier": str(rng.choice(["gold", "silver", "bronze"]))}
            if i < CHANGE + 1000:
                feats["legacy_score"] = round(float(rng.normal(0, 1)), 4)
            feats["zip_density"] = (round(float(rng.lognormal(5, 1)), 2)
                                    if i < CHANGE + 3000 else "unknown")
            # The model's outputs keep their distribution; the world stops agreeing.
            p_approve = float(rng.beta(5, 2))
            pred = "approve" if rng.random() < p_approve else "deny"
            wrong = rng.random() < (0.35 if late else 0.1)
            label = pred if not wrong else ("deny" if pred == "approve" else "approve")
            events.send_features("clf", "v1", f"c{i}", feats, ts)
            events.send_prediction("clf", "v1", f"c{i}", pred,
                                   scores={"approve": round(p_approve, 4),
                                           "deny": round(1 - p_approve, 4)}, timestamp=ts)
            events.send_label("clf", f"c{i}", label, timestamp=ts + 2)
            # Regressor: its error level drifts while its inputs and outputs do not.
            x = float(rng.normal(10, 2))
            y_hat = 3.0 * x
            y = y_hat + float(rng.normal(0, 3.0 if late else 1.0))
            events.send_features("reg", "v1", f"r{i}", {"x": round(x, 4)}, ts)
            events.send_prediction("reg", "v1", f"r{i}", round(y_hat, 4), timestamp=ts)
            events.send_label("reg", f"r{i}", round(y, 4), timestamp=ts + 2)


def test_data_quality_performance_and_class_signals_alert(broker) -> None:
    s = settings_for(broker, "signals")
    with running_worker(s) as worker:
        _traffic(broker.bootstrap, s)

        def joined() -> bool:
            worker.publish_view()
            joins = {(m, o): n for m, o, n in worker.metrics.view.joins}
            return joins.get(("clf", "joined"), 0) == N and joins.get(("reg", "joined"), 0) == N

        wait_until(joined, 90, "all labels joined", 0.5)
        alerts = wait_until(lambda: read_alerts(broker.bootstrap, s.alerts_topic), 20, "alerts")

    found = {(a["model_id"], a["signal"], a["feature"], a["detector"]) for a in alerts}
    assert ("clf", "data_quality", "legacy_score", "missing_rate") in found
    assert ("clf", "data_quality", "zip_density", "type_mismatch_rate") in found
    assert ("clf", "performance", None, "error_rate") in found
    reg = {a for a in found if a[0] == "reg"}
    assert reg and all(a[1:3] == ("performance", "abs_error") for a in reg)
    stable = {a for a in found if a[2] in ("age", "tier") or a[1] == "prediction"}
    assert not stable, f"false alarms: {stable}"
    by_key = {(a["model_id"], a["feature"], a["detector"]): a for a in alerts}
    missing = by_key[("clf", "legacy_score", "missing_rate")]
    assert CHANGE + 1000 <= missing["onset"]["position"] <= missing["position"] < CHANGE + 1100
    errors = by_key[("clf", None, "error_rate")]
    assert CHANGE - 200 <= errors["onset"]["position"] < errors["position"] < CHANGE + 1500
    assert errors["statistics"]["current"]["rate"] > 0.2
