"""Event -> alert latency runs of benchmarks/e2e.py (not a benchmark itself)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from _e2e_children import Child
from _e2e_events import live_events, model_ids
from _e2e_kafka import producer_config
from _e2e_results import Case, LatencyResult, Plan
from _e2e_runs import COOLDOWN, PARTITIONS, REFERENCE, SEED, Session, say, wait_ready, watch

__all__ = ["run_latency"]

SETTLE_SECONDS = 2.0  # from the end of the references to the first steady-state shift


def produce_paced(bootstrap: str, topic: str, keys: list[bytes], heads: list[bytes],
                  rate: float) -> float:
    """Produce at ``rate`` events/s, stamping each with the time of its produce call.

    Returns the achieved rate. ``linger.ms=5``: what a latency-minded serving layer
    would set; the 5 ms are part of the measured latency.
    """
    from confluent_kafka import Producer

    producer = Producer(producer_config(bootstrap, **{"linger.ms": 5}))
    produce, clock, now = producer.produce, time.monotonic, time.time
    sent, total = 0, len(heads)
    started = clock()
    while sent < total:
        due = min(total, int((clock() - started) * rate) + 1)
        if due <= sent:
            producer.poll(0)
            time.sleep(0.0005)
            continue
        while sent < due:
            try:
                produce(topic, heads[sent] + b"%.6f}" % now(), keys[sent])
                sent += 1
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    elapsed = clock() - started
    if producer.flush(60):
        raise RuntimeError("paced producer could not deliver everything")
    return total / elapsed


def warm_up(bootstrap: str, topic: str) -> None:
    """One untimed ``{"warmup": 1}`` message to each partition of ``topic``."""
    from confluent_kafka import Producer

    producer = Producer(producer_config(bootstrap, **{"linger.ms": 0}))
    for p in range(PARTITIONS):
        producer.produce(topic, b'{"warmup": 1}', partition=p)
    if producer.flush(30):
        raise RuntimeError("could not produce the warm-up messages")


def run_latency(session: Session, case: Case, rate: float, plan: Plan) -> LatencyResult:
    """Alerts' latency at ``rate`` on the headline's shape (features, models).

    Every model shifts ``plan.latency_shifted`` features by +2 sd once it has its
    reference. The first model does so 500 events after its reference is complete: a
    cold start, where the worker fits every monitor's reference in the same batch or two
    (reported on its own). The others shift ``SETTLE_SECONDS`` later, one after the other
    over ``plan.latency_window`` seconds; with two episodes each shifts back once the
    first alert's cooldown has passed (so that is alerted too). Their alerts are the
    steady-state latency the target is about.
    """
    models = model_ids(case.models, PARTITIONS)
    per_model_rate = rate / len(models)
    cold = REFERENCE + 500  # right after every monitor's reference
    warm = REFERENCE + int(SETTLE_SECONDS * per_model_rate)  # the reference fits are over
    back = COOLDOWN + 500  # the shift back falls after the first alert's cooldown
    stagger = max(1, int(plan.latency_window * per_model_rate / len(models)))
    toggles = [[cold]] + [[warm + k * stagger + e * back for e in range(plan.latency_episodes)]
                          for k in range(len(models) - 1)]
    per_model = max(t[-1] for t in toggles) + int(2.0 * per_model_rate)  # 2 s after the last
    count = per_model * len(models)
    stream = live_events(count, case.features, models, SEED + 7, 2.0, plan.latency_shifted,
                         toggles)
    result = LatencyResult(rate, 0.0, count, case.features, len(models), len(toggles),
                           plan.latency_shifted, plan.latency_episodes)
    tag = session.tag("latency")
    inputs = session.inputs(tag)
    worker = session.worker(tag, inputs)
    reader = Child("alerts", {"bootstrap": session.bootstrap, "topic": f"alerts-{tag}",
                              "partitions": PARTITIONS, "group": session.tag("alerts")})
    try:
        wait_ready(worker)
        before = worker.scrape()
        cpu_before = worker.cpu_seconds()
        say(f"latency: producing {count:,} events at {rate:,.0f}/s over {len(models)} models")
        result.achieved_rate = produce_paced(session.bootstrap, inputs["features_topic"],
                                             stream.keys, stream.heads, rate)
        produced = time.monotonic()
        samples, _ = watch(worker, count, 60 + count / 2000, None)
        result.consumed = int(samples[-1].consumed)
        result.lag_events = count - int(samples[0].processed)
        result.drain_seconds = samples[-1].at - produced
        if before is not None:
            end = samples[-1]
            result.worker_cpu = (worker.cpu_seconds() - cpu_before) / (end.at - before.at)
            name = "streamproc_batch_duration_seconds"
            result.batches = int(end.values.get(f"{name}_count", 0)
                                 - before.values.get(f"{name}_count", 0))
            result.batch_seconds = (end.values.get(f"{name}_sum", 0.0)
                                    - before.values.get(f"{name}_sum", 0.0))
        time.sleep(1.0)  # the last alerts' way to the reader
    except RuntimeError as exc:
        result.failures.append(str(exc))
    finally:
        reader.close_stdin()
        worker.terminate()
    arrivals: list[dict[str, Any]] = []
    reader.result(30, on_line=lambda tag, a: arrivals.append(a) if tag == "ALERT" else None)
    result.cold_model = models[0]
    for a in sorted(arrivals, key=lambda a: a["arrived"]):
        stamped = datetime.fromisoformat(a["event_timestamp"].replace("Z", "+00:00"))
        ms = (a["arrived"] - stamped.timestamp()) * 1000
        (result.cold_ms if a["model_id"] == models[0] else result.latencies_ms).append(ms)
    say(f"latency: {len(arrivals)} alerts; worker lag at the end of producing "
        f"{result.lag_events:,} events, drained in {result.drain_seconds:.1f} s")
    result.hops = run_hops(session, rate, plan)
    return result


def run_hops(session: Session, rate: float, plan: Plan) -> dict[str, list[float]]:
    """One hop producer -> Tansu -> consumer at ``rate``, with two consume-loop shapes."""
    tag = session.tag("hop")
    topic = session.inputs(tag)["features_topic"]
    count = int(rate * plan.hop_seconds)
    models = model_ids(12, PARTITIONS)
    stream = live_events(count, 10, models, SEED + 11, 0.0, 0, [])
    children = {shape: Child("hop", {"bootstrap": session.bootstrap, "topic": topic,
                                     "partitions": PARTITIONS, "group": session.tag(shape),
                                     "shape": shape})
                for shape in ("worker", "reader")}
    # Both fetching every partition before the first timed event: a child's start-up
    # (interpreter, imports, assignment) must not count as latency.
    warm_up(session.bootstrap, topic)
    for child in children.values():
        child.wait_for("READY", 60)
    produce_paced(session.bootstrap, topic, stream.keys, stream.heads, rate)
    time.sleep(0.75)  # > the worker-shaped loop's consume timeout + Tansu's fetch wait
    out = {}
    for shape, child in children.items():
        child.close_stdin()
        out[shape] = [x * 1000 for x in child.result(30)["latencies"]]
    return out
