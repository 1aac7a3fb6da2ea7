"""Seeded feature events for benchmarks/e2e.py (not a benchmark itself).

Events follow ``schemas/feature_event.json``: key = model_id, value = JSON with
``model_id``, ``model_version``, ``event_id``, ``timestamp`` (epoch seconds, as the SDK
sends it) and ``features`` (numeric only: every feature of every model is monitored by
the default numeric monitor). Models take turns (round robin), so every model, and so
every partition, advances at the same pace; feature ``j`` is N(loc_j, scale_j) with its
own seeded location and scale, rounded to 4 decimals like a real serving layer's floats.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import orjson

__all__ = ["LiveEvents", "expected_partition", "feature_events", "feature_names",
           "live_events", "model_ids"]

VERSION = "1"
EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z: timestamps of the pre-produced streams
EVENT_SPACING_SECONDS = 0.001  # pre-produced streams: one event per millisecond


def feature_names(count: int) -> list[str]:
    return [f"feature_{j:03d}" for j in range(count)]


def expected_partition(key: bytes, partitions: int) -> int:
    """Where librdkafka's default partitioner (``consistent_random``: CRC32) puts a key."""
    return zlib.crc32(key) % partitions


def model_ids(count: int, partitions: int) -> list[str]:
    """``count`` model ids spread as evenly as possible over the partitions.

    With an arbitrary list of names the CRC32 partitioner leaves some partitions with
    twice the models of others (and, with 12 models on 6 partitions, some idle), which
    skews per-partition load; these names are picked so that the counts per partition
    differ by at most one.

    >>> ids = model_ids(12, 6)
    >>> sorted(expected_partition(m.encode(), 6) for m in ids)
    [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    """
    cap = -(-count // partitions)  # ceil
    per_partition = [0] * partitions
    chosen: list[str] = []
    i = 0
    while len(chosen) < count:
        name = f"model-{i:05d}"
        i += 1
        p = expected_partition(name.encode(), partitions)
        if per_partition[p] < cap:
            per_partition[p] += 1
            chosen.append(name)
    return chosen


def _scales(rng: np.random.Generator, features: int) -> tuple[np.ndarray, np.ndarray]:
    loc = np.round(rng.uniform(-50.0, 50.0, features), 1)
    scale = np.round(10.0 ** rng.uniform(-1.0, 2.0, features), 2)
    return loc, scale


def feature_events(
    count: int, features: int, models: list[str], seed: int
) -> list[tuple[bytes, bytes]]:
    """``count`` (key, value) pairs of a stable stream (no drift)."""
    rng = np.random.default_rng(seed)
    names = feature_names(features)
    loc, scale = _scales(rng, features)
    keys = [m.encode() for m in models]
    out: list[tuple[bytes, bytes]] = []
    dumps = orjson.dumps
    step = 50_000  # rows drawn at a time: bounded memory for 100-feature events
    for start in range(0, count, step):
        n = min(step, count - start)
        rows = np.round(loc + scale * rng.standard_normal((n, features)), 4).tolist()
        for k, row in enumerate(rows):
            i = start + k
            m = i % len(models)
            out.append((keys[m], dumps({
                "model_id": models[m], "model_version": VERSION, "event_id": f"e{i}",
                "timestamp": EPOCH + i * EVENT_SPACING_SECONDS,
                "features": dict(zip(names, row, strict=True)),
            })))
    return out


@dataclass(frozen=True)
class LiveEvents:
    """Events whose timestamp is written when they are produced.

    ``value = heads[i] + b"%.6f" % time.time() + b"}"``: the JSON up to the timestamp
    is built beforehand, so the producing loop only formats one number per event.
    """

    keys: list[bytes]
    heads: list[bytes]
    shifted_models: int
    shifted_features: int


def live_events(
    count: int, features: int, models: list[str], seed: int, shift_sd: float,
    shifted_features: int, toggles: list[list[int]],
) -> LiveEvents:
    """A stream in which models shift their first ``shifted_features`` features and back.

    ``toggles[k]`` lists model ``k``'s own event numbers (not the stream's) at which its
    first features move ``shift_sd`` standard deviations up, then back down, then up...;
    a model without an entry stays stable. Staggered toggles spread alerts over the run.
    """
    rng = np.random.default_rng(seed)
    names = feature_names(features)
    loc, scale = _scales(rng, features)
    keys = [m.encode() for m in models]
    rows = loc + scale * rng.standard_normal((count, features))
    per_model = np.arange(count) // len(models)  # the model's own event number
    model_of = np.arange(count) % len(models)
    for k, points in enumerate(toggles):
        flips = np.searchsorted(np.asarray(points), per_model, side="right")
        hit = np.flatnonzero((model_of == k) & (flips % 2 == 1))
        rows[np.ix_(hit, np.arange(shifted_features))] += shift_sd * scale[:shifted_features]
    heads: list[bytes] = []
    for i, row in enumerate(np.round(rows, 4).tolist()):
        m = i % len(models)
        body = orjson.dumps({
            "model_id": models[m], "model_version": VERSION, "event_id": f"e{i}",
            "features": dict(zip(names, row, strict=True)),
        })
        heads.append(body[:-1] + b',"timestamp":')
    return LiveEvents(keys=[keys[i % len(models)] for i in range(count)], heads=heads,
                      shifted_models=len(toggles), shifted_features=shifted_features)
