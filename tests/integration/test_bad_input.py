"""Property: any mix of good and bad messages -> no crash, bad ones dead-lettered, good counted.

Hypothesis draws message templates (valid events of every shape the schema allows,
and bad ones of every kind: random bytes, NaN, schema violations, wrong keys,
unknown models, oversized); each template is sent many times with distinct
event ids, so ten examples put more than 10,000 messages through one worker.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..conftest import producer, read_topic, running_worker, settings_for, wait_until

pytestmark = pytest.mark.integration

MODELS = ["good-a", "good-b", "good-c"]
MAX_BYTES = 4096
COPIES = 30  # each template is sent this many times per example
TEMPLATES = 45

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                min_size=1, max_size=12)
values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(2**53), 2**53),
    st.text(max_size=40),
    st.booleans(),
    st.none(),
)
timestamps = st.one_of(
    st.floats(0, 4e9),
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
)


@st.composite
def good(draw: st.DrawFn) -> tuple[str, bytes, dict[str, Any]]:
    kind = draw(st.sampled_from(["features", "predictions"]))
    model = draw(st.sampled_from(MODELS))
    event: dict[str, Any] = {"model_id": model, "model_version": draw(st.sampled_from(["1", "2"])),
                             "event_id": "x", "timestamp": draw(timestamps)}
    if kind == "features":
        event["features"] = draw(st.dictionaries(names, values, max_size=6))
    else:
        event["prediction"] = draw(st.one_of(
            st.floats(allow_nan=False, allow_infinity=False),
            st.text(min_size=1, max_size=20), st.booleans()))
        if draw(st.booleans()):
            event["scores"] = draw(st.dictionaries(names, st.floats(0, 1), max_size=3))
    return kind, model.encode(), event


def _mutations(event: dict[str, Any]) -> st.SearchStrategy[tuple[bytes | None, bytes]]:
    model = event["model_id"].encode()
    dump = orjson.dumps(event)
    bad_type = {**event, "model_version": 7}
    missing = {k: v for k, v in event.items() if k != "timestamp"}
    return st.one_of(
        st.binary(min_size=1, max_size=200).map(lambda b: (model, b + b"\x00")),
        st.just((model, dump.replace(b'"timestamp":', b'"timestamp":NaN,"t0":', 1))),
        st.just((model, orjson.dumps(bad_type))),
        st.just((model, orjson.dumps(missing))),
        st.just((model, orjson.dumps({**event, "timestamp": "not a time"}))),
        st.just((b"wrong-key", dump)),
        st.just((None, dump)),
        st.just((b"intruder", orjson.dumps({**event, "model_id": "intruder"}))),
        st.just((model, dump[:-1] + b',"pad":"' + b"p" * MAX_BYTES + b'"}')),
        st.just((model, b'{"model_id":"' + b"\xff\xfe" + b'"}')),
        st.just((model, b"")),
    )


@st.composite
def message(draw: st.DrawFn) -> tuple[str, bytes | None, bytes | dict[str, Any], bool]:
    kind, key, event = draw(good())
    if draw(st.booleans()):
        return kind, key, event, True
    bad_key, value = draw(_mutations(event))
    return kind, bad_key, value, False


@pytest.fixture(scope="module")
def fuzz(broker):
    s = settings_for(broker, "fuzz", max_event_bytes=MAX_BYTES, allow_only_listed_models=True,
                     models={m: {} for m in MODELS})
    with running_worker(s) as worker:
        yield s, worker, {"good": 0, "bad": 0}


@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(templates=st.lists(message(), min_size=TEMPLATES, max_size=TEMPLATES))
def test_mixed_messages_are_counted_or_dead_lettered(fuzz, templates) -> None:
    s, worker, sent = fuzz
    p = producer(s.broker)
    topics = {"features": s.features_topic, "predictions": s.predictions_topic}
    for copy in range(COPIES):
        for n, (kind, key, value, ok) in enumerate(templates):
            if ok:
                value = orjson.dumps({**value, "event_id": f"e{sent['good']}-{copy}-{n}"})
                sent["good"] += 1
            else:
                sent["bad"] += 1
            p.produce(topics[kind], key=key, value=value)
    assert p.flush(30) == 0

    def total(name: str) -> float:
        return sum(v for m in worker.registry.collect() if m.name == name
                   for smp in m.samples if smp.name == name + "_total"
                   for v in [smp.value])

    wait_until(lambda: total("streamproc_events_consumed") == sent["good"]
               and total("streamproc_events_invalid") == sent["bad"], 60,
               f"{sent} accounted for", 0.2)
    assert worker.health.live()[0] and worker.health.ready()[0]


def test_every_bad_message_is_in_the_dead_letter_topic(fuzz) -> None:
    s, worker, sent = fuzz
    assert sent["good"] + sent["bad"] >= 10_000
    worker.checkpoint()  # delivers every dead letter produced so far
    dead = wait_until(lambda: (lambda d: d if len(d) >= sent["bad"] else None)(
        read_topic(s.broker, s.dead_letter_topic)), 30, "dead letters readable")
    assert len(dead) == sent["bad"]
    reasons = {dict(m.headers())["streamproc.reason"].decode() for m in dead}
    assert reasons >= {"invalid_json", "nan_or_infinity", "schema", "key_mismatch",
                       "unknown_model", "oversized", "empty"}
    for m in dead:
        headers = dict(m.headers())
        assert headers["streamproc.source.topic"].decode() in (s.features_topic,
                                                                s.predictions_topic)
        assert int(headers["streamproc.source.offset"]) >= 0
    assert worker.registry.get_sample_value(
        "streamproc_events_invalid_total", {"topic": s.features_topic, "reason": "schema"}) > 0
