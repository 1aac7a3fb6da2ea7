"""Consumer processes of benchmarks/e2e.py (this file run as a script; not a benchmark).

The raw orjson consumer that sets the throughput ceiling, the alerts reader of the
latency run, and the one-hop latency probe. Each runs in its own process so that none
of them shares a GIL with the producing loop or the benchmark's bookkeeping.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["Child"]

CHILD_ENV = "STREAMPROC_E2E_CHILD"
BATCH = 5000  # the worker's default batch_size: the raw consumer takes the same batches


def _emit(tag: str, payload: dict[str, Any]) -> None:
    sys.stdout.write(f"{tag} {json.dumps(payload)}\n")
    sys.stdout.flush()


def _assigned_consumer(cfg: dict[str, Any], **extra: Any) -> Any:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": cfg["bootstrap"], "group.id": cfg["group"],
                         "enable.auto.commit": False, "log_level": 3, **extra})
    consumer.assign([TopicPartition(cfg["topic"], p, OFFSET_BEGINNING)
                     for p in range(cfg["partitions"])])
    return consumer


def _stdin_closed() -> threading.Event:
    """Set when the parent closes our stdin: the signal to report and exit."""
    closed = threading.Event()

    def wait() -> None:
        sys.stdin.read()
        closed.set()

    threading.Thread(target=wait, daemon=True).start()
    return closed


def worker_fetch() -> dict[str, Any]:
    """The librdkafka fetch settings the worker's consumer sets (the rest are defaults)."""
    from streamproc.config import Settings
    from streamproc.kafka.common import FETCH_QUEUE_BACKOFF_MS

    return {"fetch.wait.max.ms": Settings().fetch_wait_max_ms,
            "fetch.queue.backoff.ms": FETCH_QUEUE_BACKOFF_MS}


def child_raw(cfg: dict[str, Any]) -> None:
    """The ceiling: ``consume(5000)``, ``orjson.loads`` of every value, with the worker's
    fetch settings (``fetch = "worker"``) or librdkafka's defaults (``"defaults"``).

    The clock starts at the first batch, as the worker's does at its first counted events.
    """
    import orjson

    consumer = _assigned_consumer(cfg, **(worker_fetch() if cfg["fetch"] == "worker" else {}))
    total, received, first, started = cfg["messages"], 0, 0, None
    loads = orjson.loads
    try:
        while received < total:
            # Never ask for more than is left: consume() waits out its timeout for a
            # batch it cannot fill, which would add up to 1 s to the last one.
            msgs = consumer.consume(min(BATCH, total - received), 1.0)
            for m in msgs:
                if m.error() is None:
                    loads(m.value())
                    received += 1
            if msgs and started is None:
                started, first = time.perf_counter(), received
        elapsed = time.perf_counter() - started
    finally:
        consumer.close()
    _emit("RESULT", {"rate": (received - first) / elapsed, "seconds": elapsed,
                     "received": received, "first_batch": first})


def child_alerts(cfg: dict[str, Any]) -> None:
    """Report each alert with its arrival time until stdin closes.

    ``fetch.wait.max.ms`` is small so that this reader adds little to the latency it
    measures (Tansu holds a fetch for up to that long before answering).
    """
    import orjson

    closed = _stdin_closed()
    consumer = _assigned_consumer(cfg, **{"fetch.wait.max.ms": 5})
    try:
        while not closed.is_set():
            for m in consumer.consume(1000, 0.02):
                if m.error() is not None:
                    continue
                arrived = time.time()
                a = orjson.loads(m.value())
                _emit("ALERT", {"arrived": arrived, "event_timestamp": a["event_timestamp"],
                                "alert_id": a["alert_id"], "model_id": a["model_id"],
                                "feature": a["feature"], "detector": a["detector"]})
    finally:
        consumer.close()
    _emit("RESULT", {})


def child_hop(cfg: dict[str, Any]) -> None:
    """One hop's latency (produce call -> consumed), with a given consume loop shape.

    ``shape = "worker"``: the worker's fetch wait and consume loop (its default
    ``fetch_wait_max_ms`` and ``consume(batch_size, POLL_TIMEOUT_SECONDS)``);
    ``shape = "reader"``: the alerts reader's settings. Prints READY once it has read
    the warm-up message (``{"warmup": ...}``, not timed) of every partition: from then on
    it is fetching every partition, so the timed events do not wait for its start-up.
    """
    import orjson

    from streamproc.config import Settings
    from streamproc.kafka.worker import POLL_TIMEOUT_SECONDS

    closed = _stdin_closed()
    if cfg["shape"] == "worker":
        consumer = _assigned_consumer(cfg, **worker_fetch())
        batch, timeout = Settings().batch_size, POLL_TIMEOUT_SECONDS
    else:
        consumer, batch, timeout = _assigned_consumer(cfg, **{"fetch.wait.max.ms": 5}), 1000, 0.02
    latencies: list[float] = []
    warm: set[int] = set()  # partitions whose warm-up message has been read
    try:
        while not closed.is_set():
            for m in consumer.consume(batch, timeout):
                if m.error() is not None:
                    continue
                body = orjson.loads(m.value())
                if "warmup" in body:
                    warm.add(m.partition())
                    if len(warm) == cfg["partitions"]:
                        _emit("READY", {})
                    continue
                latencies.append(time.time() - body["timestamp"])
    finally:
        consumer.close()
    _emit("RESULT", {"latencies": latencies})


def child_restore(cfg: dict[str, Any]) -> None:
    """Memory the worker's monitors need: its snapshots restored in a fresh process.

    A worker's RSS also holds librdkafka's prefetched messages and what the allocator
    kept after peaks; restoring the decoded snapshots into ``PartitionMonitors`` (as the
    worker does after a restart) in a process that holds nothing else shows the monitors
    alone: growth of RSS, and of the Python heap as ``tracemalloc`` traces it. The first
    restore is not measured (lazy imports, first-use caches), the second is measured by
    RSS, a third (with ``trace``) under tracemalloc. The first restores one partition only
    and is kept, so that the measured restore cannot reuse its memory.
    """
    import gc
    import tracemalloc

    sys.path.insert(0, str(ROOT))
    from streamproc.config import load_settings
    from streamproc.core import snapshot
    from streamproc.core.units.partition import PartitionMonitors

    blob = Path(cfg["path"]).read_bytes()
    blobs, at = [], 0
    while at < len(blob):
        size = int.from_bytes(blob[at : at + 8], "big")
        blobs.append(blob[at + 8 : at + 8 + size])
        at += 8 + size
    del blob
    config = load_settings(None).detection_config()

    def restore(which: list[bytes]) -> list[Any]:
        return [PartitionMonitors.from_state(config, snapshot.decode(b)["state"])
                for b in which]

    # Kept alive, so that the measured restore cannot reuse the memory it had.
    warm = restore(blobs[:1])
    gc.collect()
    before = _rss()
    units = restore(blobs)
    gc.collect()
    growth = _rss() - before
    traced = -1
    if cfg["trace"]:  # a third copy under tracemalloc (its bookkeeping would inflate RSS)
        tracemalloc.start()
        traced_units = restore(blobs)
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        del traced_units
    _emit("RESULT", {"rss_growth": growth, "traced": traced,
                     "partitions": [len(warm), len(units)]})


def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


CHILDREN = {"raw": child_raw, "alerts": child_alerts, "hop": child_hop,
            "restore": child_restore}


class Child:
    """This file run as one of CHILDREN, with its stdout lines queued for the parent."""

    def __init__(self, kind: str, cfg: dict[str, Any]) -> None:
        env = {**os.environ, CHILD_ENV: json.dumps({"kind": kind, **cfg})}
        self.kind = kind
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve())], cwd=ROOT, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.lines: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            tag, _, payload = raw.decode(errors="replace").partition(" ")
            with contextlib.suppress(json.JSONDecodeError):
                self.lines.put((tag, json.loads(payload)))
        self.lines.put(None)

    def close_stdin(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()

    def result(self, timeout: float, on_line: Any = None) -> dict[str, Any]:
        """Wait for the RESULT line (passing other lines to ``on_line``); raise on failure."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RuntimeError(f"{self.kind} child timed out after {timeout:.0f} s")
                try:
                    item = self.lines.get(timeout=min(remaining, 1.0))
                except queue.Empty:
                    continue
                if item is None:
                    err = b"" if self.proc.stderr is None else self.proc.stderr.read()
                    tail = err.decode(errors="replace").strip().splitlines()[-1:]
                    raise RuntimeError(f"{self.kind} child exited without a result: {tail}")
                tag, payload = item
                if tag == "RESULT":
                    return payload
                if on_line is not None:
                    on_line(tag, payload)
        finally:
            self.stop()

    def wait_for(self, tag: str, timeout: float) -> dict[str, Any]:
        """Wait for the next line tagged ``tag`` (lines before it are dropped)."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                item = self.lines.get(timeout=min(remaining, 1.0))
            except queue.Empty:
                continue
            if item is None:
                raise RuntimeError(f"{self.kind} child exited before {tag}")
            if item[0] == tag:
                return item[1]
        raise RuntimeError(f"{self.kind} child sent no {tag} within {timeout:.0f} s")

    def stop(self) -> None:
        self.close_stdin()
        if self.proc.poll() is None:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


if __name__ == "__main__":
    child = json.loads(os.environ.pop(CHILD_ENV))
    CHILDREN[child.pop("kind")](child)
