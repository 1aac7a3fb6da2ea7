"""Alerts as CloudEvents: ce_* headers on the alerts topic, and webhooks on a live worker.

One worker, two shifted models (two alerts), two real local receivers: ``ok`` answers 200,
``flaky`` answers 503 to the first two attempts of every event.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from cloudevents.core.bindings import http, kafka
from cloudevents.core.formats.json import JSONFormat
from confluent_kafka import Message

from streamproc import cloudevents
from streamproc.config import Settings

from ..conftest import read_topic, running_worker, settings_for, unique, wait_until
from .receiver import Receiver
from .traffic import REFERENCE_SIZE, send_shifted

pytestmark = pytest.mark.integration

MODELS = ["wh-a", "wh-b"]
FAILURES = 2  # 503s before the flaky receiver accepts an event


@dataclass
class Run:
    settings: Settings
    messages: list[Message]
    alerts: list[dict[str, Any]]
    ok: Receiver
    flaky: Receiver
    samples: dict[tuple[str, str, str], float | None]
    token: str


def _sample(registry: Any, name: str, webhook: str, label: str = "", value: str = "") -> Any:
    labels = {"webhook": webhook, **({label: value} if label else {})}
    return registry.get_sample_value(name, labels)


@pytest.fixture(scope="module")
def run(broker) -> Iterator[Run]:
    token_env = unique("HOOK_TOKEN").replace("-", "_").upper()
    token = "Bearer t0ken"
    os.environ[token_env] = token
    with Receiver() as ok, Receiver(plan=lambda _id, n: 503 if n < FAILURES else 200) as flaky:
        hooks = [
            {"url": ok.url, "name": "ok", "auth_header": "Authorization", "auth_env": token_env},
            {"url": flaky.url, "name": "flaky", "retry_initial_seconds": 0.2,
             "retry_max_seconds": 1.0},
        ]
        s = settings_for(broker, "webhooks", alert_webhooks=hooks,
                         detection={"reference_size": REFERENCE_SIZE})
        try:
            with running_worker(s) as worker:
                send_shifted(broker.bootstrap, s.features_topic, MODELS)
                reg = worker.registry
                for hook in ("ok", "flaky"):
                    wait_until(lambda h=hook: _sample(
                        reg, "streamproc_webhook_deliveries_total", h, "outcome", "delivered"
                    ) == len(MODELS), 60, f"alerts delivered to {hook}")
                    wait_until(lambda h=hook: _sample(
                        reg, "streamproc_webhook_backlog_alerts", h) == 0, 10, f"{hook} caught up")
                samples = {}
                for hook in ("ok", "flaky"):
                    for result in ("2xx", "5xx", "error"):
                        samples[("attempts", hook, result)] = _sample(
                            reg, "streamproc_webhook_attempts_total", hook, "result", result)
                    for outcome in ("delivered", "rejected", "invalid"):
                        samples[("deliveries", hook, outcome)] = _sample(
                            reg, "streamproc_webhook_deliveries_total", hook, "outcome", outcome)
                    samples[("retries", hook, "")] = _sample(
                        reg, "streamproc_webhook_retries_total", hook)
            messages = read_topic(broker.bootstrap, s.alerts_topic)
            yield Run(s, messages, [orjson.loads(m.value()) for m in messages], ok, flaky,
                      samples, token)
        finally:
            del os.environ[token_env]


def test_alerts_topic_messages_are_binary_mode_cloudevents(run: Run) -> None:
    assert sorted(a["model_id"] for a in run.alerts) == MODELS
    for m, alert in zip(run.messages, run.alerts, strict=True):
        assert m.headers() == cloudevents.kafka_headers(alert, run.settings.group_id)
        event = kafka.from_kafka(
            kafka.KafkaMessage(headers=dict(m.headers()), key=m.key(), value=m.value()),
            JSONFormat(),
        )
        assert event.get_id() == alert["alert_id"]
        assert event.get_subject() == f"{alert['model_id']}/feature/x"
        assert event.get_source() == f"/streamproc/{run.settings.group_id}"
        assert event.get_data() == alert


def test_webhook_receives_each_alert_once_as_a_structured_cloudevent(run: Run) -> None:
    by_id = {a["alert_id"]: a for a in run.alerts}
    assert len(run.ok.requests) == len(MODELS)
    for headers, body in run.ok.requests:
        assert headers["Content-Type"] == "application/cloudevents+json; charset=utf-8"
        assert headers["Authorization"] == run.token
        assert headers["User-Agent"].startswith("streamproc/")
        event = http.from_http(http.HTTPMessage(headers=headers, body=body), JSONFormat())
        alert = by_id[event.get_id()]
        assert event.get_type() == "io.streamproc.drift.alert.v1"
        assert event.get_subject() == f"{alert['model_id']}/feature/x"
        assert event.get_data() == alert
        assert body == cloudevents.structured_event(alert, run.settings.group_id)
    assert run.ok.ids() == set(by_id)


def test_a_failing_receiver_gets_every_alert_after_counted_retries(run: Run) -> None:
    n = len(MODELS)
    assert len(run.flaky.requests) == n * (FAILURES + 1)
    assert run.flaky.ids() == {a["alert_id"] for a in run.alerts}
    assert "Authorization" not in run.flaky.requests[0][0]
    assert run.samples == {
        ("attempts", "ok", "2xx"): n, ("attempts", "ok", "5xx"): None,
        ("attempts", "ok", "error"): None,
        ("deliveries", "ok", "delivered"): n, ("deliveries", "ok", "rejected"): 0,
        ("deliveries", "ok", "invalid"): 0, ("retries", "ok", ""): 0,
        ("attempts", "flaky", "2xx"): n, ("attempts", "flaky", "5xx"): n * FAILURES,
        ("attempts", "flaky", "error"): None,
        ("deliveries", "flaky", "delivered"): n, ("deliveries", "flaky", "rejected"): 0,
        ("deliveries", "flaky", "invalid"): 0, ("retries", "flaky", ""): n * FAILURES,
    }
