"""Drift alerts as CloudEvents, read back with the CNCF CloudEvents SDK (an independent reader)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from cloudevents.core.bindings import http, kafka
from cloudevents.core.formats.json import JSONFormat

from streamproc import cloudevents

from .samples import drift_alert


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
