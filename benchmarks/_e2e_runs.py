"""Worker, latency and state runs of benchmarks/e2e.py (not a benchmark itself).

Every run gets fresh topics and a fresh consumer group, so runs never see each
other's events, offsets or state.
"""

from __future__ import annotations

import signal
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from _e2e_children import Child
from _e2e_events import feature_events, model_ids
from _e2e_kafka import (
    Scrape,
    WorkerProcess,
    create_input_topics,
    proc_cpu_seconds,
    produce_all,
    read_snapshots,
    worker_values,
)
from _e2e_results import (
    Case,
    GroupRun,
    Plan,
    Profile,
    StateResult,
    WorkerRun,
)

from streamproc.broker import EmbeddedBroker, free_port
from streamproc.config import DetectionSettings, load_settings
from streamproc.core import snapshot
from streamproc.kafka.common import check_reachable
from streamproc.kafka.topics import ensure_topics

__all__ = ["Session", "run_group", "run_profile", "run_state", "run_worker", "wait_ready",
           "watch"]

PARTITIONS = 6  # the worker's default partition count
REFERENCE = DetectionSettings().reference_size  # events a monitor learns before detecting
COOLDOWN = DetectionSettings().cooldown_events  # a monitor's detections within it: not alerted
# Scrape (the two timed counters only: cheap at any number of models) often enough to
# time a run of under a second.
SCRAPE_INTERVAL = 0.25
SEED = 20_261_127


def say(text: str) -> None:
    import sys

    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# One worker run
# --------------------------------------------------------------------------------------------


class Session:
    """The broker, a scratch directory, and fresh names for every run."""

    def __init__(self, broker: EmbeddedBroker, workdir: Path) -> None:
        self.broker = broker
        self.bootstrap = broker.bootstrap
        self.workdir = workdir

    def tag(self, what: str) -> str:
        return f"{what}-{uuid.uuid4().hex[:8]}"

    def inputs(self, tag: str) -> dict[str, str]:
        """Create a run's (empty) input topics, 6 partitions each; return their settings."""
        names = {k: f"{k}-{tag}" for k in ("features", "predictions", "labels")}
        create_input_topics(self.bootstrap, list(names.values()), PARTITIONS)
        return {f"{k}_topic": v for k, v in names.items()}

    def worker(self, tag: str, inputs: dict[str, str], member: int = 0,
               **overrides: Any) -> WorkerProcess:
        """Create the run's output and state topics (as the worker would), then start it.

        Workers started with the same ``tag`` share the group and the topics (``member``
        only tells their logs apart).
        """
        values = worker_values(self.bootstrap, tag, PARTITIONS, **inputs, **overrides)
        ensure_topics(check_reachable(self.bootstrap), load_settings(None, **values))
        return WorkerProcess(values, free_port(), self.workdir / f"worker-{tag}-{member}.log")


def _second_half(samples: list[Scrape], total: int) -> Scrape | None:
    return next((s for s in samples if s.processed >= total / 2), None)


def _rate(first: Scrape | None, last: Scrape | None) -> float | None:
    if first is None or last is None or last.at - first.at < 0.5:
        return None
    return (last.processed - first.processed) / (last.at - first.at)


def watch(worker: WorkerProcess, total: int, timeout: float,
          broker_pid: int | None) -> tuple[list[Scrape], dict[str, float]]:
    """Scrape until the worker has processed ``total`` events; CPU times at first/last."""
    samples: list[Scrape] = []
    cpu: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while True:
        if not worker.alive():
            raise RuntimeError(f"worker exited with {worker.proc.returncode}: {worker.tail()}")
        if time.monotonic() > deadline:
            got = samples[-1].processed if samples else 0
            raise RuntimeError(f"worker timed out after {timeout:.0f} s at {got:,.0f}/{total:,}")
        s = worker.scrape(counters_only=True)
        if s is not None:
            samples.append(s)
            if s.processed > 0 and "worker_first" not in cpu:
                cpu["worker_first"], cpu["broker_first"] = (worker.cpu_seconds(),
                                                            proc_cpu_seconds(broker_pid))
            if s.processed >= total:
                cpu["worker_last"], cpu["broker_last"] = (worker.cpu_seconds(),
                                                          proc_cpu_seconds(broker_pid))
                # The rest of the last sample (sizes, histograms) from one whole scrape.
                if (whole := worker.scrape()) is not None:
                    s.size, s.values, s.whole_seconds = whole.size, whole.values, whole.seconds
                return samples, cpu
        time.sleep(SCRAPE_INTERVAL)


def latest_snapshots(session: Session, state_topic: str) -> dict[int, Any]:
    """Partition -> its snapshot record that includes the most events."""
    best: dict[int, Any] = {}
    for rec in read_snapshots(session.bootstrap, state_topic, PARTITIONS):
        if rec.partition not in best or (rec.included, rec.offset) > (
                best[rec.partition].included, best[rec.partition].offset):
            best[rec.partition] = rec
    return best


def state_sizes(records: list[Any]) -> tuple[int, int]:
    """(JSON bytes of the decoded states, bytes of the records as stored)."""
    json_bytes = sum(len(orjson.dumps(snapshot.decode(r.blob)["state"])) for r in records)
    return json_bytes, sum(len(r.blob) for r in records)


def monitor_memory(session: Session, records: list[Any], trace: bool = False) -> tuple[int, int]:
    """(RSS growth, traced Python heap or -1) of restoring ``records`` in a fresh process.

    Tracing restores everything once more under tracemalloc, slowly: with 10,000 models
    that alone takes most of a minute, so only the state run asks for it.
    """
    path = session.workdir / f"snapshots-{uuid.uuid4().hex[:8]}.bin"
    path.write_bytes(b"".join(len(r.blob).to_bytes(8, "big") + r.blob for r in records))
    try:
        out = Child("restore", {"path": str(path), "trace": trace}).result(300)
    finally:
        path.unlink()
    return int(out["rss_growth"]), int(out["traced"])


def run_worker(session: Session, case: Case, inputs: dict[str, str],
               tag: str, **settings: Any) -> tuple[WorkerRun, list[Any]]:
    """One worker run of ``case`` (with worker ``settings``); also returns its latest
    snapshot of every partition."""
    started = time.monotonic()
    worker = session.worker(tag, inputs, **settings)
    try:
        samples, cpu = watch(worker, case.events, 90 + case.events / 2000, session.broker.pid)
        rss, hwm = worker.memory()
    finally:
        code = worker.terminate()
    if code != 0:
        raise RuntimeError(f"worker exited with {code} after SIGTERM: {worker.tail()}")
    end = samples[-1]
    if end.invalid or end.consumed != case.events:
        raise RuntimeError(f"worker consumed {end.consumed:,.0f} and rejected "
                           f"{end.invalid:,.0f} of {case.events:,} events")
    first = next(s for s in samples if s.processed > 0)
    inside = [s for s in samples if s.processed < case.events]
    last = inside[-1] if inside and inside[-1].at - first.at >= 1.0 else end
    span = last.at - first.at
    records = list(latest_snapshots(session, f"state-{tag}").values())
    json_bytes, stored = state_sizes(records)
    v = end.values

    def mean(name: str) -> float | None:
        count = v.get(f"{name}_count", 0.0)
        return v[f"{name}_sum"] / count if count else None

    # The first scrape that sees events can also be the last (a short run whose scrapes
    # waited for a batch): nothing is timed then, and the figures say n/a.
    nan = float("nan")
    counted, elapsed = end.processed - first.processed, end.at - first.at
    return WorkerRun(
        rate=_rate(first, last) or nan,
        cpu_per_event=(cpu["worker_last"] - cpu["worker_first"]) / counted if counted else nan,
        second_half_rate=_rate(_second_half(samples, case.events), last),
        seconds=span, join_seconds=first.at - started,
        worker_cpu=(cpu["worker_last"] - cpu["worker_first"]) / elapsed if elapsed else nan,
        broker_cpu=(cpu["broker_last"] - cpu["broker_first"]) / elapsed if elapsed else nan,
        rss=rss, hwm=hwm, metrics_bytes=end.size,
        scrape_seconds=end.whole_seconds, scrapes=len(samples),
        checkpoint_seconds=mean("streamproc_checkpoint_duration_seconds"),
        batch_seconds=mean("streamproc_batch_duration_seconds"),
        batches=int(v.get("streamproc_batch_duration_seconds_count", 0)),
        alerts=int(v.get("streamproc_drift_alerts_total", 0)),
        state_json=json_bytes, state_compressed=stored,
        state_complete=sum(r.included for r in records) == case.events,
    ), records


# --------------------------------------------------------------------------------------------
# State: N events, then 2N more, on one worker
# --------------------------------------------------------------------------------------------


def _ready(worker: WorkerProcess) -> bool:
    try:
        with urllib.request.urlopen(worker.url + "/readyz", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def wait_ready(worker: WorkerProcess, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not _ready(worker):
        if time.monotonic() > deadline or not worker.alive():
            raise RuntimeError(f"worker not ready within {timeout:.0f} s: {worker.tail()}")
        time.sleep(0.2)


def wait_checkpoint(worker: WorkerProcess, after: Scrape, interval: float) -> Scrape:
    """A scrape taken once the checkpoint that includes every counted event is written.

    That is the first checkpoint after the drain scrape ``after``, unless it was already
    written between the last batch and that scrape: then no partition is dirty and none
    follows, so waiting two checkpoint intervals settles it.
    """
    name = "streamproc_checkpoint_duration_seconds_count"
    deadline = time.monotonic() + 2 * interval + 0.5
    while True:
        time.sleep(0.2)
        s = worker.scrape()
        if s is None:
            if not worker.alive():
                raise RuntimeError(f"state worker exited: {worker.tail()}")
            continue
        if s.values.get(name, 0.0) > after.values.get(name, 0.0) or (
                time.monotonic() > deadline):
            return s


CHECKPOINT_SECONDS = 1.0  # the state run's checkpoint interval (the default is 5 s)


def run_state(session: Session, plan: Plan,
              measure_snapshot: Callable[[list[list[dict[str, Any]]]], list[float]]) -> StateResult:
    """Feed N events, then 2N more; after each phase: snapshots, checkpoint time, RSS.

    Checkpoints every second (instead of 5) so that each phase has several; each phase
    ends with the first checkpoint written after the worker counted its last event.
    """
    models = model_ids(plan.state_models, PARTITIONS)
    n = plan.state_events
    result = StateResult(len(models), 10)
    events = feature_events(3 * n, 10, models, SEED + 13)
    tag = session.tag("state")
    inputs = session.inputs(tag)
    worker = session.worker(tag, inputs, checkpoint_interval_seconds=CHECKPOINT_SECONDS)
    per_partition = [0] * PARTITIONS
    wanted: list[list[int]] = []  # per phase: events of each partition included so far
    try:
        wait_ready(worker)
        result.rss_idle = worker.memory()[0]
        ck_sum = ck_count = 0.0
        for lo, hi in ((0, n), (n, 3 * n)):
            stored = produce_all(session.bootstrap, inputs["features_topic"], events[lo:hi],
                                 PARTITIONS)
            per_partition = [a + len(b) for a, b in zip(per_partition, stored, strict=True)]
            wanted.append(list(per_partition))
            drained = watch(worker, hi, 60 + (hi - lo) / 2000, None)[0][-1]
            s = wait_checkpoint(worker, drained, CHECKPOINT_SECONDS)
            total = s.values.get("streamproc_checkpoint_duration_seconds_sum", 0.0)
            count = s.values.get("streamproc_checkpoint_duration_seconds_count", 0.0)
            result.checkpoint_seconds.append(
                (total - ck_sum) / (count - ck_count) if count > ck_count else None)
            ck_sum, ck_count = total, count
            result.rss.append(worker.memory()[0])
            result.phases.append(hi)
            say(f"state: {hi:,} events in, rss {result.rss[-1] / 2**20:.0f} MB")
    except RuntimeError as exc:
        result.failures.append(str(exc))
    finally:
        worker.terminate()
    records = read_snapshots(session.bootstrap, f"state-{tag}", PARTITIONS)
    phase_states = []
    for counts in wanted[: len(result.phases)]:
        chosen = []
        for p, included in enumerate(counts):
            at = [r for r in records if r.partition == p and r.included == included]
            if included and not at:
                result.failures.append(f"no snapshot of partition {p} at {included} events")
            chosen += at[-1:]
        json_bytes, stored_bytes = state_sizes(chosen)
        result.memory.append(monitor_memory(session, chosen, trace=True))
        result.snapshot_json.append(json_bytes)
        result.snapshot_compressed.append(stored_bytes)
        phase_states.append([snapshot.decode(r.blob)["state"] for r in chosen])
    result.encode_seconds = measure_snapshot(phase_states)
    return result


# --------------------------------------------------------------------------------------------
# Profile
# --------------------------------------------------------------------------------------------


def run_profile(session: Session, case: Case, inputs: dict[str, str], rate: float,
                revision: str) -> Profile:
    """py-spy on one more worker run of ``case`` (not timed: sampling costs a little)."""
    from _e2e_profile import record, summarise

    # Sample at most while the worker works: py-spy is stopped (SIGINT: it then writes what
    # it has) as soon as the worker has processed every event, so no idle tail is sampled.
    seconds = max(2.0, min(30.0, 2 * case.events / rate))
    worker = session.worker(session.tag(f"{case.label}-profile"), inputs)
    try:
        deadline = time.monotonic() + 60
        while (s := worker.scrape()) is None or s.processed == 0:
            if time.monotonic() > deadline or not worker.alive():
                raise RuntimeError(f"profiled worker did not start: {worker.tail()}")
            time.sleep(0.1)
        spy, out = record(worker.pid, seconds)
        sampling = time.monotonic()
        watch(worker, case.events, 90 + case.events / 2000, None)
        if spy.poll() is None:
            spy.send_signal(signal.SIGINT)
        _, err = spy.communicate(timeout=60)
        seconds = min(seconds, time.monotonic() - sampling)
    finally:
        worker.terminate()
    if not out.exists():
        raise RuntimeError(f"py-spy failed: {err.decode(errors='replace').strip()[-300:]}")
    total, main, lines, functions = summarise(out)
    return Profile(revision, seconds, total, main, lines, functions)


# --------------------------------------------------------------------------------------------
# Several worker processes in one group
# --------------------------------------------------------------------------------------------


def run_group(session: Session, case: Case, inputs: dict[str, str], processes: int) -> GroupRun:
    """``processes`` workers, started together in one group, on the pre-produced events.

    Timed like one worker, on the sum of their counters (scraped one after the other, at
    the mean of their times). Started together they usually join in one generation; the
    rebalances each saw are reported, since a later join moves partitions mid-run.
    """
    tag = session.tag(f"{case.label}-x{processes}")
    workers = [session.worker(tag, inputs, member=i) for i in range(processes)]
    points: list[tuple[float, float]] = []
    deadline = time.monotonic() + 90 + case.events / 2000
    try:
        while not points or points[-1][1] < case.events:
            if time.monotonic() > deadline:
                raise RuntimeError(f"group timed out at {points[-1][1] if points else 0:,.0f}")
            dead = [w for w in workers if not w.alive()]
            if dead:
                raise RuntimeError(f"a worker of the group exited: {dead[0].tail()}")
            scrapes = [w.scrape(counters_only=True) for w in workers]
            if all(scrapes):
                points.append((sum(x.at for x in scrapes) / processes,  # type: ignore[union-attr]
                               sum(x.processed for x in scrapes)))  # type: ignore[union-attr]
            time.sleep(SCRAPE_INTERVAL)
        last = [w.scrape() for w in workers]
    finally:
        for w in workers:
            w.terminate()
    first = next(p for p in points if p[1] > 0)
    inside = [p for p in points if p[1] < case.events]
    end = inside[-1] if inside and inside[-1][0] - first[0] >= 1.0 else points[-1]
    return GroupRun(
        processes=processes, rate=(end[1] - first[1]) / (end[0] - first[0]),
        seconds=end[0] - first[0],
        counted=[int(x.processed) if x else -1 for x in last],
        rebalances=[int(x.values.get("streamproc_rebalances_total", 0)) if x else -1
                    for x in last],
    )
