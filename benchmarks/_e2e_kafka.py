"""Kafka, processes and /metrics for benchmarks/e2e.py (not a benchmark itself).

* topics and pre-production on the embedded broker (delivery reports, not watermarks,
  say what was stored: Tansu's ListOffsets(latest) can lag what it holds);
* :class:`WorkerProcess`: a real ``python -m streamproc worker`` configured by
  ``STREAMPROC_*`` variables, observed only from the outside (its ``/metrics``, and
  ``/proc`` for memory and CPU time);
* reading the worker's state topic back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

__all__ = ["Scrape", "SnapshotRecord", "WorkerProcess", "create_input_topics", "proc_cpu_seconds",
           "produce_all", "producer_config", "read_snapshots", "worker_values"]

# Short group timeouts (as tests/conftest.py FAST_GROUP): Tansu answers a join only after
# a fraction of the session timeout.
SESSION_TIMEOUT_MS = 6000
HEARTBEAT_MS = 500
_TICK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------------------------
# Topics and producing
# --------------------------------------------------------------------------------------------


def create_input_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
    new = [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names]
    for future in admin.create_topics(new, operation_timeout=15, request_timeout=15).values():
        future.result()


def producer_config(bootstrap: str, **extra: Any) -> dict[str, Any]:
    """Pre-production settings: large batches, no compression.

    No compression: Tansu stores batches as they come, so lz4 would only move cost
    into the consumers' decompression, the same for the worker and the raw consumer.
    """
    return {
        "bootstrap.servers": bootstrap,
        "linger.ms": 50,
        "batch.num.messages": 10_000,
        "compression.type": "none",
        "queue.buffering.max.messages": 1_000_000,
        "enable.idempotence": False,
        "log_level": 3,
        **extra,
    }


def produce_all(
    bootstrap: str, topic: str, events: list[tuple[bytes, bytes]], partitions: int
) -> list[list[tuple[bytes, bytes, int]]]:
    """Produce ``events``; return per partition its (key, value, offset), in offset order.

    Raises RuntimeError unless every event was acknowledged where the default
    partitioner was expected to put it.
    """
    from _common import produce_each
    from _e2e_events import expected_partition
    from confluent_kafka import Producer

    stored: list[list[tuple[bytes, bytes, int]]] = [[] for _ in range(partitions)]
    failed: list[str] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            failed.append(str(err))
        else:
            stored[msg.partition()].append((msg.key(), msg.value(), msg.offset()))

    producer = Producer(producer_config(bootstrap))
    produce_each(producer, topic, events, on_delivery)
    left = producer.flush(300)
    if left or failed or sum(map(len, stored)) != len(events):
        raise RuntimeError(f"producing to {topic} failed: {left} undelivered, "
                           f"{sum(map(len, stored))} acknowledged, errors {failed[:3]}")
    for p, rows in enumerate(stored):
        rows.sort(key=lambda r: r[2])
        if any(expected_partition(k, partitions) != p for k, _, _ in rows[:100]):
            raise RuntimeError("the producer's partitioner is not CRC32 of the key; "
                               "_e2e_events.model_ids cannot balance the partitions")
    return stored


# --------------------------------------------------------------------------------------------
# The worker process
# --------------------------------------------------------------------------------------------


def worker_values(bootstrap: str, tag: str, partitions: int, **overrides: Any) -> dict[str, Any]:
    """Settings of one worker run: its own output topics, state topic and group."""
    topics = {"features": "features", "predictions": "predictions", "labels": "labels",
              "alerts": "alerts", "dead_letter": "dlq", "state": "state"}
    return {
        "broker": bootstrap,
        "group_id": f"e2e-{tag}",
        **{f"{setting}_topic": f"{prefix}-{tag}" for setting, prefix in topics.items()},
        "partitions": partitions,
        "session_timeout_ms": SESSION_TIMEOUT_MS,
        "heartbeat_interval_ms": HEARTBEAT_MS,
        **overrides,
    }


TIMED_COUNTERS = ("streamproc_events_consumed_total", "streamproc_events_invalid_total")


@dataclass
class Scrape:
    """One read of a worker's /metrics: the counters the benchmark times, and the rest."""

    at: float  # time.monotonic() half-way through the request
    seconds: float  # how long the request took
    size: int  # bytes of the exposition
    consumed: float = 0.0
    invalid: float = 0.0
    values: dict[str, float] = field(default_factory=dict)  # other streamproc_* (summed)
    whole_seconds: float = float("nan")  # a whole /metrics request's time, if one was made

    @classmethod
    def parse(cls, text: str, at: float, seconds: float, size: int) -> Scrape:
        # A plain line scan, not prometheus_client's parser: with 10,000 models the
        # exposition has tens of thousands of lines and this runs several times a second.
        s = cls(at, seconds, size)
        consumed_prefix = "streamproc_events_consumed_total{"
        for line in text.splitlines():
            if not line.startswith("streamproc_"):
                continue
            name_labels, _, raw = line.rpartition(" ")
            value = float(raw)
            if name_labels.startswith(consumed_prefix):
                s.consumed += value
                continue
            name = name_labels.split("{", 1)[0]
            if name == "streamproc_events_invalid_total":
                s.invalid += value
            s.values[name] = s.values.get(name, 0.0) + value
        return s

    @property
    def processed(self) -> float:
        return self.consumed + self.invalid


class WorkerProcess:
    """``python -m streamproc worker`` with the given settings as STREAMPROC_* variables."""

    def __init__(self, values: dict[str, Any], metrics_port: int, log: Path) -> None:
        from streamproc.config import load_settings

        load_settings(None, **values)  # a misspelt setting fails here, not silently later
        env = dict(os.environ)
        for key, value in values.items():
            env[f"STREAMPROC_{key.upper()}"] = str(value)
        env["STREAMPROC_METRICS_PORT"] = str(metrics_port)
        self.url = f"http://127.0.0.1:{metrics_port}"
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamproc", "worker"], cwd=ROOT, env=env,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def scrape(self, counters_only: bool = False) -> Scrape | None:
        """The whole /metrics, or (``counters_only``) just the two counters the benchmark
        times: a whole exposition is 160 KB at the headline shape and megabytes with
        10,000 models, and rendering it holds the worker's GIL (~5% of its CPU at 4
        scrapes a second), where Prometheus would scrape every 15 s."""
        query = "?" + "&".join(f"name[]={n}" for n in TIMED_COUNTERS) if counters_only else ""
        started = time.monotonic()
        try:
            with urllib.request.urlopen(self.url + "/metrics" + query, timeout=10) as resp:
                body = resp.read()
        except OSError:
            return None
        done = time.monotonic()
        return Scrape.parse(body.decode(), (started + done) / 2, done - started, len(body))

    def memory(self) -> tuple[int, int]:
        """Resident set size now and at its peak (VmRSS, VmHWM), in bytes."""
        return proc_memory(self.pid)

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)

    def tail(self, lines: int = 5) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return " | ".join(line.strip()[:200] for line in text[-lines:])

    def terminate(self, timeout: float = 60.0) -> int | None:
        """SIGTERM (final checkpoint, leave the group); SIGKILL if it does not exit."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            return None


def proc_memory(pid: int) -> tuple[int, int]:
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    return rss, hwm


def proc_cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    if pid is None:
        return float("nan")
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / _TICK


# --------------------------------------------------------------------------------------------
# Reading the state topic back
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotRecord:
    partition: int
    offset: int
    included: int  # events of the input topics the snapshot includes (from its header)
    blob: bytes


def read_snapshots(bootstrap: str, topic: str, partitions: int,
                   timeout: float = 60.0) -> list[SnapshotRecord]:
    """Every record of the state topic, read to the end of each partition's log."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    reader = Consumer({
        "bootstrap.servers": bootstrap, "group.id": "e2e-state-reader",
        "enable.auto.commit": False, "enable.partition.eof": True,
        "fetch.max.bytes": 128 * 1024 * 1024, "max.partition.fetch.bytes": 128 * 1024 * 1024,
        "log_level": 3,
    })
    out: list[SnapshotRecord] = []
    try:
        reader.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        at_end: set[int] = set()
        deadline = time.monotonic() + timeout
        while len(at_end) < partitions and time.monotonic() < deadline:
            for msg in reader.consume(100, 0.5):
                if msg.error():
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        at_end.add(msg.partition())
                    continue
                included = -1
                for name, value in msg.headers() or []:
                    if name == "streamproc.offsets":
                        included = sum(int(v) + 1 for v in json.loads(value).values())
                out.append(SnapshotRecord(msg.partition(), msg.offset(), included, msg.value()))
    finally:
        reader.close()
    return out
