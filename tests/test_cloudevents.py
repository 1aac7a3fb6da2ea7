"""Drift alerts as CloudEvents, read back with the CNCF CloudEvents SDK (an independent reader)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson
from cloudevents.core.bindings import http, kafka
from cloudevents.core.formats.json import JSONFormat

from streamproc import cloudevents

SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "drift_alert.json"


def drift_alert(**changes: Any) -> dict[str, Any]:
    """A drift alert valid against schemas/drift_alert.json."""
    alert = {
        "alert_id": "6da86e0aa24a0f18b225dc635419fbc8", "model_id": "churn-model",
        "model_version": "v3", "signal": "feature", "feature": "avg_session_minutes",
        "detector": "page_hinkley", "direction": "up", "severity": "high",
        "detected_at": "2026-11-27T07:32:31.080Z", "event_timestamp": "2026-11-27T07:32:31.064Z",
        "position": 4559, "onset": {"position": 4496, "event_timestamp": "2026-11-27T07:32:29Z"},
        "source": {"topic": "features", "partition": 2, "offset": 4559},
        "statistics": {"reference": {"n": 2000, "mean": 10.85, "sd": 4.46},
                       "current": {"mean": 14.45, "n": 64}, "shift_sd": 0.80},
        "summary": "churn-model v3: feature 'avg_session_minutes' mean shifted up by 0.80 sd",
        **changes,
    }
    jsonschema_rs.validator_for(json.loads(SCHEMA.read_text())).validate(alert)
    return alert


def test_attributes_name_the_alert_deployment_and_what_drifted() -> None:
    assert cloudevents.attributes(drift_alert(), "prod") == {
        "specversion": "1.0",
        "id": "6da86e0aa24a0f18b225dc635419fbc8",
        "source": "/streamproc/prod",
        "type": "io.streamproc.drift.alert.v1",
        "subject": "churn-model/feature/avg_session_minutes",
        "time": "2026-11-27T07:32:31.080Z",
        "datacontenttype": "application/json",
        "dataschema": "https://streamproc.dev/schemas/drift_alert.json",
    }


def test_subject_of_signals_without_a_feature_and_of_odd_names() -> None:
    assert cloudevents.subject(drift_alert(signal="prediction", feature=None)) == \
        "churn-model/prediction"
    assert cloudevents.subject(drift_alert(model_id="team/m%1", feature="score:yes")) == \
        "team%2Fm%251/feature/score:yes"
    assert cloudevents.source("a b/c") == "/streamproc/a%20b%2Fc"


def test_kafka_binary_mode_headers_in_order() -> None:
    assert cloudevents.kafka_headers(drift_alert(), "prod") == [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"6da86e0aa24a0f18b225dc635419fbc8"),
        ("ce_source", b"/streamproc/prod"),
        ("ce_type", b"io.streamproc.drift.alert.v1"),
        ("ce_subject", b"churn-model/feature/avg_session_minutes"),
        ("ce_time", b"2026-11-27T07:32:31.080Z"),
        ("ce_dataschema", b"https://streamproc.dev/schemas/drift_alert.json"),
        ("content-type", b"application/json"),
    ]


def test_the_sdk_reads_a_kafka_message_as_the_alert_event() -> None:
    alert = drift_alert()
    message = kafka.KafkaMessage(
        headers=dict(cloudevents.kafka_headers(alert, "prod")), key=b"churn-model",
        value=orjson.dumps(alert),
    )
    event = kafka.from_kafka(message, JSONFormat())
    assert event.get_id() == alert["alert_id"]
    assert event.get_type() == "io.streamproc.drift.alert.v1"
    assert event.get_subject() == "churn-model/feature/avg_session_minutes"
    assert event.get_time() == datetime(2026, 11, 27, 7, 32, 31, 80000, tzinfo=UTC)
    assert event.get_data() == alert


def test_the_sdk_reads_the_structured_http_body_as_the_alert_event() -> None:
    alert = drift_alert(signal="performance", feature=None, detector="error_rate")
    body = cloudevents.structured_event(alert, "prod")
    message = http.HTTPMessage(
        headers={"content-type": cloudevents.STRUCTURED_CONTENT_TYPE}, body=body
    )
    event = http.from_http(message, JSONFormat())
    assert event.get_id() == alert["alert_id"]
    assert event.get_source() == "/streamproc/prod"
    assert event.get_subject() == "churn-model/performance"
    assert event.get_datacontenttype() == "application/json"
    assert event.get_data() == alert
    assert orjson.loads(body)["data"] == alert
