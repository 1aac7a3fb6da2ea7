"""Bounded models per partition: refusals, idle eviction, and the checkpoints' encoding.

The decisions (which events are refused, which models are evicted) must be those of one
uninterrupted pass, however the stream is cut into batches and however often the unit
is restored from a snapshot and fed redelivered events: that is what keeps the worker's
crash consistency with a bound on models.
"""

from __future__ import annotations

import random

import numpy as np
import orjson

from streamproc.core.contracts.events import InputEvent
from streamproc.core.settings import DetectionConfig, MonitorSettings
from streamproc.core.snapshot import decode, encode
from streamproc.core.units.partition import PartitionMonitors

SMALL = MonitorSettings(reference_size=64)


def _config(**kw: object) -> DetectionConfig:
    return DetectionConfig(SMALL, **kw)  # type: ignore[arg-type]


def _ev(offset: int, model: str, ts: float, x: float = 0.0) -> InputEvent:
    return InputEvent("features", offset, model, "1", f"e{offset}", ts, {"features": {"x": x}})



def test_models_beyond_the_places_are_refused_and_listed_ones_always_fit() -> None:
    pm = PartitionMonitors(_config(max_models=4, partitions=2, listed_models=frozenset({"vip"})),
                           0)
    assert pm.config.places_per_partition == 2
    events = [_ev(o, m, 100.0 + o) for o, m in enumerate(["a", "b", "c", "vip", "a", "d", "c"])]
    done = pm.apply("features", "features", events, 0.0)
    assert done.refused == [2, 5, 6]
    assert done.refused_models == ["c", "d", "c"]
    assert sorted(pm.models) == ["a", "b", "vip"]
    assert pm.observations("a") == {("feature", "x"): 2}
    assert [int(o) for o in done.events.offsets] == [0, 1, 3, 4]  # what the metrics count
    assert pm.offsets == {"features": 6}  # refused events are absorbed (dead-lettered)


def test_an_idle_model_is_evicted_in_event_time_and_returns_from_nothing() -> None:
    pm = PartitionMonitors(_config(max_models=2, model_idle_seconds=60.0), 0)
    first = [_ev(o, m, 1000.0 + o) for o, m in enumerate(["a", "b", "a", "b"])]
    pm.apply("features", "features", first, 0.0)
    # b keeps sending; a falls silent; c finds no place until a is idle for 60 s
    later = [_ev(4, "b", 1030.0), _ev(5, "c", 1040.0), _ev(6, "b", 1070.0),
             _ev(7, "c", 1071.0), _ev(8, "a", 1072.0)]
    done = pm.apply("features", "features", later, 0.0)
    assert done.refused == [5, 8]  # c before a was idle; a after c took its place
    assert done.evicted == ["a"]
    assert sorted(pm.models) == ["b", "c"]
    assert [m["model_id"] for m in pm.to_state()["models"]] == ["b", "c"]
    assert "a" not in {m for m, _ in pm.to_state()["places"]["last"]}
    # Much later a returns. Idleness is judged by the clock before an event (the latest
    # event time absorbed): its first event finds b and c still held, its second finds
    # them idle; it starts from nothing (its two old events are gone).
    back = pm.apply("features", "features", [_ev(9, "a", 1200.0), _ev(10, "a", 1201.0)], 0.0)
    assert back.refused == [9]
    assert sorted(back.evicted) == ["b", "c"]
    assert pm.observations("a") == {("feature", "x"): 1}


def test_listed_models_are_never_evicted() -> None:
    pm = PartitionMonitors(_config(max_models=1, model_idle_seconds=10.0,
                                   listed_models=frozenset({"vip"})), 0)
    pm.apply("features", "features", [_ev(0, "vip", 0.0), _ev(1, "a", 1.0)], 0.0)
    done = pm.apply("features", "features", [_ev(2, "b", 500.0), _ev(3, "b", 501.0)], 0.0)
    assert done.refused == [2] and done.evicted == ["a"]
    assert sorted(pm.models) == ["b", "vip"]


def _flood(n: int, seed: int) -> list[InputEvent]:
    """Many models, some recurring, timestamps mostly increasing with jitter."""
    rng = np.random.default_rng(seed)
    out = []
    for o in range(n):
        model = f"m{int(rng.zipf(1.5)) % 40}" if rng.random() < 0.7 else f"once{o}"
        out.append(_ev(o, model, 1000.0 + o * 0.5 + float(rng.normal(0, 3)),
                       float(rng.normal())))
    return out


def _run(events: list[InputEvent], config: DetectionConfig, seed: int | None,
         ) -> tuple[PartitionMonitors, list[int], list[str]]:
    """One pass (seed None) or random batches with crashes: restore the last snapshot and
    redeliver from its offset (refusals/evictions counted once, past the last seen)."""
    pm = PartitionMonitors(config, 0)
    if seed is None:
        done = pm.apply("features", "features", events, 0.0)
        return pm, done.refused, done.evicted
    rng = random.Random(seed)
    refused: list[int] = []
    evicted: list[tuple[int, str]] = []
    snapshot = encode(pm.to_state(encoded=True))
    seen = -1
    while pm.absorbed("features") < len(events) - 1:
        lo = max(0, pm.absorbed("features") + 1 - rng.randint(0, 20))
        hi = min(len(events), lo + rng.randint(1, 60))
        done = pm.apply("features", "features", events[lo:hi], 0.0)
        refused += [o for o in done.refused if o > seen]
        evicted += [(hi, m) for m in done.evicted if hi - 1 > seen]
        seen = max(seen, hi - 1)
        roll = rng.random()
        if roll < 0.3:
            snapshot = encode(pm.to_state(encoded=True))
        elif roll < 0.45:  # crash: back to the last snapshot
            pm = PartitionMonitors.from_state(config, decode(snapshot)["state"])
    return pm, refused, [m for _, m in evicted]


def test_refusals_and_evictions_do_not_depend_on_batches_or_crashes() -> None:
    config = _config(max_models=12, model_idle_seconds=40.0, listed_models=frozenset({"m1"}))
    events = _flood(1500, seed=3)
    whole, refused, evicted = _run(events, config, seed=None)
    assert refused and evicted, "the stream must exercise both"
    for seed in (1, 2):
        pm, r, e = _run(events, config, seed)
        assert orjson.dumps(pm.to_state()) == orjson.dumps(whole.to_state())
        assert r == refused
        assert sorted(set(e)) == sorted(set(evicted))


def test_checkpoint_encoding_equals_a_full_one_and_skips_quiet_models() -> None:
    pm = PartitionMonitors(_config(max_models=100), 0)
    rng = np.random.default_rng(5)
    offset = 0
    for round_ in range(6):
        busy = ["a", "b"] if round_ % 2 else [f"q{i}" for i in range(20)] + ["a"]
        batch = []
        for _ in range(150):
            batch.append(_ev(offset, busy[offset % len(busy)], 10.0 + offset,
                             float(rng.normal())))
            offset += 1
        pm.apply("features", "features", batch, 0.0)
        pm.monitor_views()  # what the metrics read must not change state unseen
        assert orjson.dumps(pm.to_state(encoded=True)) == orjson.dumps(pm.to_state())
        assert pm.encoded.encoded == (len(set(busy)) if round_ else 21)
    restored = PartitionMonitors.from_state(pm.config, orjson.loads(orjson.dumps(
        pm.to_state(encoded=True))))
    assert orjson.dumps(restored.to_state()) == orjson.dumps(pm.to_state())
