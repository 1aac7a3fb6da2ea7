"""The consumers that benchmarks/transport.py times, one per subprocess.

Each reads the run's topic (its settings in the environment variable ``CHILD_ENV``)
and reports on stdout's file descriptor: ``PROGRESS`` lines, then one ``RESULT``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

PARTITIONS = 4
# Tansu answers a new member's join only after a fraction of the session timeout; with the
# clients' defaults (10-45 s) every run would spend most of its time waiting to join.
SESSION_TIMEOUT_MS = 6000
HEARTBEAT_MS = 1000

CHILD_ENV = "STREAMPROC_TRANSPORT_CHILD"
RESULT_TAG = "RESULT "
PROGRESS_TAG = "PROGRESS "


def _emit(tag: str, payload: dict[str, Any]) -> None:
    # os.write on fd 1, not print: the faust worker replaces sys.stdout with a logger proxy.
    os.write(1, (tag + json.dumps(payload) + "\n").encode())


class Meter:
    """Counts messages; the clock starts when the first batch arrives, not at join time."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.received = 0
        self.first_batch = 0
        self.payload_bytes = 0
        self.started: float | None = None
        self._last_progress = 0.0

    def add(self, count: int, payload_bytes: int) -> bool:
        """Record a batch; True once all messages are in (and the result was emitted)."""
        now = time.perf_counter()
        if count == 0:
            return False
        if self.started is None:
            self.started, self.first_batch = now, count
        self.received += count
        self.payload_bytes += payload_bytes
        if self.received >= self.total:
            elapsed = now - self.started
            measured = self.received - self.first_batch
            rate = measured / elapsed if measured > 0 and elapsed > 0 else float("nan")
            _emit(RESULT_TAG, {
                "rate": rate, "received": self.received, "first_batch": self.first_batch,
                "seconds": elapsed, "payload_bytes": self.payload_bytes,
            })
            return True
        # Progress lets the parent say how far a timed-out contender got.
        if now - self._last_progress > 1.0:
            self._last_progress = now
            _emit(PROGRESS_TAG, {"received": self.received})
        return False


def child_confluent(cfg: dict[str, Any]) -> None:
    from confluent_kafka import Consumer, KafkaException

    consumer = Consumer({
        "bootstrap.servers": cfg["bootstrap"],
        "group.id": cfg["group"],
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "partition.assignment.strategy": "range",
        "session.timeout.ms": SESSION_TIMEOUT_MS,
        "heartbeat.interval.ms": HEARTBEAT_MS,
    })
    consumer.subscribe([cfg["topic"]])
    meter = Meter(cfg["messages"])
    try:
        while True:
            msgs = consumer.consume(cfg["batch"], 1.0)
            size = 0
            for m in msgs:
                if m.error() is not None:
                    raise KafkaException(m.error())
                size += len(m.value())
            if meter.add(len(msgs), size):
                return
    finally:
        consumer.close()


def child_aiokafka(cfg: dict[str, Any]) -> None:
    from aiokafka import AIOKafkaConsumer

    async def run() -> None:
        consumer = AIOKafkaConsumer(
            cfg["topic"],
            bootstrap_servers=cfg["bootstrap"],
            group_id=cfg["group"],
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=HEARTBEAT_MS,
        )
        await consumer.start()
        meter = Meter(cfg["messages"])
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=1000, max_records=cfg["batch"])
                count = size = 0
                for records in batches.values():
                    count += len(records)
                    size += sum(len(r.value) for r in records)
                if meter.add(count, size):
                    return
        finally:
            await consumer.stop()

    asyncio.run(run())


def child_faust(cfg: dict[str, Any]) -> None:
    import faust

    app = faust.App(
        cfg["group"],  # the app id is the group id: unique per run, so no committed offsets
        broker=f"kafka://{cfg['bootstrap']}",
        value_serializer="raw",
        web_enabled=False,
        autodiscover=False,
        store="memory://",
        datadir=cfg["workdir"],  # faust writes <id>-data/ under the cwd by default
        consumer_auto_offset_reset="earliest",
        topic_partitions=PARTITIONS,
        broker_session_timeout=SESSION_TIMEOUT_MS / 1000,
        broker_heartbeat_interval=HEARTBEAT_MS / 1000,
        broker_rebalance_timeout=10,
        worker_redirect_stdouts=False,
    )
    topic = app.topic(cfg["topic"], key_type=bytes, value_type=bytes, value_serializer="raw")
    meter = Meter(cfg["messages"])

    @app.agent(topic)
    async def drain(stream: Any) -> None:
        async for events in stream.take_events(cfg["batch"], within=0.2):
            if meter.add(len(events), sum(len(e.value) for e in events)):
                # The parent kills the worker once the result is out; idle until then
                # rather than exercise faust's shutdown path.
                await asyncio.Event().wait()

    sys.argv = [sys.argv[0], "worker", "-l", "warn"]
    app.main()


CHILDREN = {"confluent": child_confluent, "aiokafka": child_aiokafka, "faust": child_faust}


if __name__ == "__main__":
    child = json.loads(os.environ.pop(CHILD_ENV))
    CHILDREN[child.pop("key")](child)
