"""Bad input gets a named reason; snapshots are data only and refuse forgeries."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamproc.core import snapshot
from streamproc.core.contracts.events import EventDecoder, InputEvent, Rejection, _may_hold_booleans
from streamproc.errors import SnapshotError

GOOD = {"model_id": "m1", "model_version": "v1", "event_id": "e1",
        "timestamp": "2026-01-02T03:04:05.5+01:00", "features": {"x": 1.5, "c": "a", "f": None}}


@pytest.fixture(scope="module")
def decoder() -> EventDecoder:
    return EventDecoder(max_bytes=4096, allowed_models=frozenset({"m1"}))


def test_valid_event_is_decoded(decoder: EventDecoder) -> None:
    ev = decoder.decode("features", b"m1", orjson.dumps(GOOD), offset=3)
    assert isinstance(ev, InputEvent)
    assert (ev.offset, ev.model_version, ev.timestamp) == (3, "v1", 1767319445.5)


@pytest.mark.parametrize(
    ("features", "plain"),
    [
        ([{"x": 1.5}, {"x": 2.5}], [True, True]),
        ([{"fare": 1.5, "transaction": 2.0}] * 2, [True, True]),  # "fa", "tr", no boolean
        ([{"fare": 1.5}, {"fare": True}], [True, False]),
        ([{"x": False}, {"x": 0.5}], [False, True]),
    ],
)
def test_a_batch_marks_exactly_the_events_that_hold_booleans(
    decoder: EventDecoder, features: list[dict], plain: list[bool]
) -> None:
    # Numeric columns of "plain" events convert to floats at once, so an event with a
    # boolean must never be marked plain (True would become 1.0, not a type mismatch).
    values = [orjson.dumps({**GOOD, "event_id": f"e{i}", "features": f})
              for i, f in enumerate(features)]
    batch, rejected = decoder.decode_batch("features", [b"m1"] * len(values), values,
                                           list(range(len(values))))
    assert not rejected
    assert batch.plain.tolist() == plain


@settings(max_examples=2000, deadline=None, derandomize=True)
@given(st.binary(max_size=24) | st.lists(st.sampled_from(
    [b"t", b"r", b"u", b"e", b"f", b"a", b"l", b"s", b"true", b"false", b'"', b":", b"1"]),
    max_size=12).map(b"".join))
def test_the_boolean_prefilter_says_exactly_whether_true_or_false_occurs(data: bytes) -> None:
    # Pairs at even and odd offsets, at either end, and strings of one or two bytes.
    assert _may_hold_booleans(data) == (b"true" in data or b"false" in data)


@pytest.mark.parametrize(
    ("key", "value", "reason", "detail"),
    [
        (b"m1", None, "empty", "no value"),
        (b"m1", b"x" * 5000, "oversized", "exceeds the 4096-byte limit"),
        (b"m1", b"\xff\xfe{}", "not_utf8", "not UTF-8"),
        (b"m1", b'{"model_id": "m1",', "invalid_json", "not valid JSON"),
        (b"m1", b'{"model_id":"m1","features":{"x":NaN}}', "nan_or_infinity", "NaN"),
        (b"m1", b'{"model_id":"m1","features":{"x":Infinity}}', "nan_or_infinity", "Infinity"),
        (b"m1", orjson.dumps({**GOOD, "features": {"x": [1, 2]}}), "schema", "/features/x"),
        (b"m1", orjson.dumps({**GOOD, "timestamp": "yesterday"}), "schema", "date-time"),
        (b"m1", orjson.dumps({k: v for k, v in GOOD.items() if k != "event_id"}), "schema",
         '"event_id" is a required property'),
        (None, orjson.dumps(GOOD), "key_mismatch", "message key missing"),
        (b"m2", orjson.dumps(GOOD), "key_mismatch", "differs from model_id 'm1'"),
        (b"m9", orjson.dumps({**GOOD, "model_id": "m9"}), "unknown_model", "'m9' is not in"),
    ],
)
def test_bad_input_is_rejected_with_a_reason(
    decoder: EventDecoder, key: bytes | None, value: bytes | None, reason: str, detail: str
) -> None:
    result = decoder.decode("features", key, value, offset=0)
    assert isinstance(result, Rejection)
    assert result.reason == reason and detail in result.detail


def test_snapshot_round_trip_signed_and_unsigned() -> None:
    state = {"offsets": {"features": 41}, "models": [{"x": [1.5, None, "a"]}]}
    assert snapshot.decode(snapshot.encode(state))["state"] == state
    assert snapshot.decode(snapshot.encode(state, key=b"k"), key=b"k")["state"] == state


@pytest.mark.parametrize(
    ("blob_key", "read_key", "message"),
    [(b"k", b"other", "signature does not match"),
     (b"k", None, "signed but no state key"),
     (None, b"k", "unsigned but a state key is configured")],
)
def test_snapshot_refuses_wrong_keys(blob_key: bytes | None, read_key: bytes | None,
                                     message: str) -> None:
    blob = snapshot.encode({"a": 1}, key=blob_key)
    with pytest.raises(SnapshotError, match=message):
        snapshot.decode(blob, key=read_key)


def test_tampered_snapshot_is_refused() -> None:
    blob = bytearray(snapshot.encode({"a": 1}, key=b"k"))
    blob[-3] ^= 0xFF
    with pytest.raises(SnapshotError, match="signature does not match"):
        snapshot.decode(bytes(blob), key=b"k")


def test_incompatible_versions_say_how_to_rebuild() -> None:
    newer = bytearray(snapshot.encode({"a": 1}))
    newer[len(snapshot.MAGIC)] = snapshot.FORMAT_VERSION + 1
    with pytest.raises(SnapshotError, match="--reset-state"):
        snapshot.decode(bytes(newer))
    import zlib
    payload = orjson.dumps({"format": 1, "algorithms": 999, "streamproc": "9", "state": {}})
    blob = snapshot.MAGIC + bytes([1, 0]) + zlib.compress(payload)
    with pytest.raises(SnapshotError, match="algorithms version 999"):
        snapshot.decode(blob)


def test_pickle_payloads_are_not_executed() -> None:
    import pickle

    evil = pickle.dumps(ValueError("never constructed"))
    with pytest.raises(SnapshotError, match="not a streamproc snapshot"):
        snapshot.decode(evil)
    blob = snapshot.MAGIC + bytes([1, 0]) + evil
    with pytest.raises(SnapshotError, match="corrupt"):
        snapshot.decode(blob)
