"""Drift alerts as CloudEvents 1.0: the attributes, and their two renderings.

A drift alert (``schemas/drift_alert.json``) is the event's ``data``; the attributes
say what it is without parsing it:

- ``id`` is the alert's deterministic ``alert_id``, so a receiver that drops
  duplicates by CloudEvents id drops re-sent alerts;
- ``source`` names the deployment (the workers' consumer group) as a URI-reference;
- ``subject`` names what drifted: ``<model>/<signal>[/<feature>]``;
- ``time`` is ``detected_at``.

Two renderings, per the CloudEvents protocol bindings:

- :func:`structured_event`: the JSON event format (``data`` inline), which webhooks
  POST with ``Content-Type: application/cloudevents+json``;
- :func:`kafka_headers`: Kafka *binary* content mode, ``ce_*`` headers next to an
  unchanged message value (the alert JSON), so existing consumers of the alerts topic
  keep working and CloudEvents-aware ones (Knative, Dapr, the SDKs) read it as an event.

No Kafka import: the worker, the webhook relay and the tests share this module.

Examples
--------
>>> alert = {"alert_id": "6da86e0aa24a0f18b225dc635419fbc8", "model_id": "churn-model",
...          "signal": "feature", "feature": "avg_session_minutes",
...          "detected_at": "2026-11-27T07:32:31.080Z"}
>>> attrs = attributes(alert, "streamproc")
>>> attrs["subject"], attrs["source"]
('churn-model/feature/avg_session_minutes', '/streamproc/streamproc')
>>> attrs["type"], attrs["time"]
('io.streamproc.drift.alert.v1', '2026-11-27T07:32:31.080Z')
>>> kafka_headers(alert, "streamproc")[:2]
[('ce_specversion', b'1.0'), ('ce_id', b'6da86e0aa24a0f18b225dc635419fbc8')]
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson

__all__ = [
    "DATA_CONTENT_TYPE",
    "EVENT_TYPE",
    "STRUCTURED_CONTENT_TYPE",
    "attributes",
    "kafka_headers",
    "source",
    "structured_event",
    "subject",
]

SPECVERSION = "1.0"
# Reverse-DNS type with a version suffix: a breaking change of the alert format gets v2,
# and receivers can route both during a migration.
EVENT_TYPE = "io.streamproc.drift.alert.v1"
DATA_CONTENT_TYPE = "application/json"
DATA_SCHEMA = "https://streamproc.dev/schemas/drift_alert.json"  # the schema's $id
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"

# The order of the binary-mode headers (CloudEvents attribute -> Kafka header).
_HEADER_ATTRIBUTES = ("specversion", "id", "source", "type", "subject", "time", "dataschema")


def _segment(text: str) -> str:
    """A path segment: '/' and '%' escaped, everything else kept readable."""
    return text.replace("%", "%25").replace("/", "%2F")


def source(group_id: str) -> str:
    """The URI-reference naming a streamproc deployment (its workers' consumer group).

    >>> source("team a/prod")
    '/streamproc/team%20a%2Fprod'
    """
    return "/streamproc/" + quote(group_id, safe="")


def subject(alert: dict[str, Any]) -> str:
    """What drifted: ``<model>/<signal>`` and ``/<feature>`` when the alert names one.

    >>> subject({"model_id": "fraud", "signal": "prediction", "feature": None})
    'fraud/prediction'
    >>> subject({"model_id": "a/b", "signal": "feature", "feature": "score:yes"})
    'a%2Fb/feature/score:yes'
    """
    parts = [alert["model_id"], alert["signal"]]
    if alert.get("feature"):
        parts.append(alert["feature"])
    return "/".join(_segment(str(p)) for p in parts)


def attributes(alert: dict[str, Any], group_id: str) -> dict[str, str]:
    """The CloudEvents 1.0 context attributes of a drift alert."""
    return {
        "specversion": SPECVERSION,
        "id": alert["alert_id"],
        "source": source(group_id),
        "type": EVENT_TYPE,
        "subject": subject(alert),
        "time": alert["detected_at"],
        "datacontenttype": DATA_CONTENT_TYPE,
        "dataschema": DATA_SCHEMA,
    }


def structured_event(alert: dict[str, Any], group_id: str) -> bytes:
    """The event in the JSON event format (structured mode), ``data`` being the alert."""
    return orjson.dumps({**attributes(alert, group_id), "data": alert})


def kafka_headers(alert: dict[str, Any], group_id: str) -> list[tuple[str, bytes]]:
    """Kafka binary-mode headers: ``ce_<attribute>``, and ``content-type`` for the value."""
    attrs = attributes(alert, group_id)
    headers = [(f"ce_{name}", attrs[name].encode()) for name in _HEADER_ATTRIBUTES]
    headers.append(("content-type", attrs["datacontenttype"].encode()))
    return headers
