"""A worker under a producer bug: one event each from N distinct model ids.

Measured as a new user would meet it: 200,000 feature events (2 numeric features) from
200,000 distinct ``model_id``s, consumed by one real ``python -m streamproc worker`` on
the embedded broker with default settings, observed from the outside only: ``/readyz``
and ``/proc`` every second, a whole ``/metrics`` scrape every few seconds (its bytes and
time, as Prometheus would see it), and after the backlog the worker's own checkpoint
histogram and snapshot sizes. Then a few well-behaved models keep sending and must
still alert on a shift (the models that were there first, or the listed ones).

Usage (from the repository root)::

    .venv/bin/python benchmarks/cardinality.py [--models 200000] [--set KEY=VALUE ...]

``--set`` passes worker settings (``--set max_models=100000000`` to see the unbounded
worker). Prints a summary; writes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from _e2e_kafka import WorkerProcess, create_input_topics, producer_config  # noqa: E402
from confluent_kafka import Producer  # noqa: E402

from streamproc.broker import EmbeddedBroker, free_port  # noqa: E402

MB = 1024 * 1024
PARTITIONS = 6
T0 = 1.7e9


def flood(bootstrap: str, topic: str, count: int, start: float) -> None:
    """One feature event per model id ``flood-<i>``: the producer bug."""
    p = Producer(producer_config(bootstrap))
    for i in range(count):
        mid = f"flood-{i}"
        body = {"model_id": mid, "model_version": "1", "event_id": f"f{i}",
                "timestamp": start + i * 0.001, "features": {"a": i % 7, "b": 0.5 * (i % 11)}}
        while True:
            try:
                p.produce(topic, orjson.dumps(body), mid.encode())
                break
            except BufferError:
                p.poll(0.05)
    if p.flush(120):
        raise RuntimeError("flood events undelivered")


def steady(bootstrap: str, topic: str, models: list[str], n: int, start: float,
           shift_from: int | None = None) -> None:
    """``n`` events per model of a seeded N(0, 1) feature x (+2 from ``shift_from`` on)."""
    import numpy as np

    rng = np.random.default_rng(11)
    p = Producer(producer_config(bootstrap))
    for i in range(n):
        for m in models:
            x = float(rng.normal()) + (2.0 if shift_from is not None and i >= shift_from else 0.0)
            body = {"model_id": m, "model_version": "1", "event_id": f"{m}-{i}",
                    "timestamp": start + i * 0.01, "features": {"x": x}}
            while True:
                try:
                    p.produce(topic, orjson.dumps(body), m.encode())
                    break
                except BufferError:
                    p.poll(0.05)
    if p.flush(120):
        raise RuntimeError("steady events undelivered")


def get(url: str, timeout: float) -> tuple[int, bytes, float]:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read(), time.monotonic() - started
    except urllib.error.HTTPError as exc:
        return exc.code, b"", time.monotonic() - started
    except OSError:
        return 0, b"", time.monotonic() - started


def sample_sums(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("streamproc_"):
            name_labels, _, raw = line.rpartition(" ")
            key = name_labels.split("{", 1)[0]
            if 'reason="too_many_models"' in name_labels:
                key += "{too_many_models}"
            out[key] = out.get(key, 0.0) + float(raw)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", type=int, default=200_000)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args()
    extra = dict(kv.split("=", 1) for kv in args.set)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker(free_port()) as broker:
        tag = str(int(time.time()))
        names = [f"{k}-{tag}" for k in ("features", "predictions", "labels")]
        create_input_topics(broker.bootstrap, names, PARTITIONS)
        good = [f"steady-{i}" for i in range(6)]
        steady(broker.bootstrap, names[0], good, 2500, T0)  # they were there first
        t = time.monotonic()
        flood(broker.bootstrap, names[0], args.models, T0 + 30)
        print(f"produced {args.models:,} flood events in {time.monotonic() - t:.1f}s")
        from _e2e_kafka import worker_values

        values = worker_values(broker.bootstrap, tag, PARTITIONS, **extra)
        port = free_port()
        w = WorkerProcess(values, port, Path(tmp) / "worker.log")
        base = f"http://127.0.0.1:{port}"
        total = 6 * 2500 + args.models
        peak_rss = 0
        not_ready = 0
        scrapes: list[tuple[int, float]] = []
        started = time.monotonic()
        last_whole = 0.0
        processed = 0.0
        ready_seen = False
        try:
            while time.monotonic() - started < args.timeout:
                if not w.alive():
                    raise RuntimeError(f"worker exited: {w.tail()}")
                status, _, _ = get(base + "/readyz", 5)
                ready_seen = ready_seen or status == 200
                if ready_seen and status != 200:
                    not_ready += 1
                peak_rss = max(peak_rss, w.memory()[0])
                s = w.scrape(counters_only=True)
                if s is not None:
                    processed = s.processed
                if time.monotonic() - last_whole > 5:
                    last_whole = time.monotonic()
                    st, body, secs = get(base + "/metrics", 30)
                    if st == 200:
                        scrapes.append((len(body), secs))
                    else:
                        scrapes.append((-1, secs))
                if processed >= total:
                    break
                time.sleep(1)
            drained = time.monotonic() - started
            steady(broker.bootstrap, names[0], good, 1500, T0 + 300, shift_from=200)
            time.sleep(12)  # the steady events, then two checkpoints
            status, body, secs = get(base + "/metrics", 30)
            scrapes.append((len(body) if status == 200 else -1, secs))
            sums = sample_sums(body.decode())
            peak_rss = max(peak_rss, w.memory()[0])
        finally:
            w.terminate()
        alerts = [line for line in w.log.read_text().splitlines() if "ALERT" in line]
        alerted = sorted({m for m in good for a in alerts if f" {m} " in a or f"{m}:" in a})
        result: dict[str, Any] = {
            "settings": extra,
            "drained_seconds": round(drained, 1),
            "peak_rss_mb": round(peak_rss / MB),
            "readyz_not_200_after_ready": not_ready,
            "metrics_bytes": [b for b, _ in scrapes],
            "metrics_seconds": [round(s, 2) for _, s in scrapes],
            "checkpoints": sums.get("streamproc_checkpoint_duration_seconds_count"),
            "checkpoint_mean_seconds": round(
                sums.get("streamproc_checkpoint_duration_seconds_sum", 0.0)
                / max(1.0, sums.get("streamproc_checkpoint_duration_seconds_count", 1.0)), 3),
            "snapshot_bytes_total": sums.get("streamproc_snapshot_bytes"),
            "too_many_models": sums.get("streamproc_events_invalid_total{too_many_models}", 0),
            "steady_models_alerted": alerted,
            "slow_checkpoint_log": [line[-220:] for line in w.log.read_text().splitlines()
                                    if "checkpoint of" in line][:2],
        }
        print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
