"""What benchmarks/e2e.py measures, as plain records (not a benchmark itself)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Case", "CaseResult", "CoreRun", "GroupRun", "LatencyResult", "Plan", "Profile",
           "RawRun", "StateResult", "WorkerRun", "median", "percentile"]


def median(values: list[float]) -> float | None:
    """The median of the values that are not NaN (a run too short to time), or None."""
    kept = [v for v in values if not math.isnan(v)]
    return statistics.median(kept) if kept else None


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of a non-empty list, else None."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, int(round(q / 100 * len(ordered) + 0.5 - 1e-9)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True)
class Case:
    """One point of the sweep: events of ``features`` numeric features over ``models``."""

    features: int
    models: int
    events: int
    # The worker's batch_max_messages for this case (0: its default). The linearity
    # pair sets it so that a short 10-feature run spans many batches, not one.
    batch: int = 0
    # The worker's checkpoint_interval_seconds (0: its default). The linearity pair sets
    # one longer than its runs: a checkpoint costs per monitor, not per event, and the
    # pair's 10-feature run (~0.5 s) would otherwise take none while the 100-feature run
    # (~5 s) takes one of ~160 ms. Checkpoint cost is measured in the state run.
    checkpoint_seconds: float = 0.0

    @property
    def label(self) -> str:
        label = f"{self.features}f-{self.models}m-{self.events // 1000}k"
        return f"{label}-b{self.batch}" if self.batch else label

    @property
    def monitored(self) -> int:
        """Monitored numeric features: every feature of every model is numeric."""
        return self.features * self.models


@dataclass(frozen=True)
class Plan:
    """What one invocation runs (the full run or --quick)."""

    cases: tuple[Case, ...]  # the first is the headline: it sets the latency run's rate
    repeat: int
    latency_shifted: int  # features shifted per model
    latency_episodes: int  # shifts per model: 2 = up, then back down after the cooldown
    latency_window: float  # seconds over which the shifts are staggered
    hop_seconds: float
    state_models: int
    state_events: int  # N: the state run feeds N, then 2N more
    profile: bool
    # Worker settings of the timed throughput runs. --quick caps batches at one poll:
    # its 150,000 events would otherwise be absorbed in a few batches, too few to time.
    worker: tuple[tuple[str, Any], ...] = ()


@dataclass
class WorkerRun:
    rate: float  # events/s from the first counted events to the last sample before the end
    cpu_per_event: float  # worker CPU seconds (all its threads) per event, same span
    second_half_rate: float | None  # the same, from the first sample past half the events
    seconds: float  # timed span
    join_seconds: float  # process start -> first counted events (start-up + group join)
    worker_cpu: float  # CPU cores the worker used on average over the timed span
    broker_cpu: float  # the same for the Tansu broker
    rss: int
    hwm: int
    metrics_bytes: int
    scrape_seconds: float  # one whole /metrics request's time, after the run
    scrapes: int
    checkpoint_seconds: float | None  # mean streamproc_checkpoint_duration_seconds
    batch_seconds: float | None  # mean streamproc_batch_duration_seconds
    batches: int  # their count
    alerts: int
    state_json: int  # bytes of the decoded state (orjson), latest snapshot of every partition
    state_compressed: int  # bytes of those snapshot records as stored
    state_complete: bool  # the latest snapshots include every event


@dataclass
class GroupRun:
    """Several worker processes in one consumer group (--processes)."""

    processes: int
    rate: float  # events/s of the whole group
    seconds: float
    counted: list[int]  # events each worker counted
    rebalances: list[int]  # assignments each worker received


@dataclass
class RawRun:
    rate: float
    seconds: float


@dataclass
class CoreRun:
    rate: float
    seconds: float
    alerts: int


@dataclass
class CaseResult:
    case: Case
    payload_bytes: int = 0
    produce_seconds: float = 0.0
    worker: list[WorkerRun] = field(default_factory=list)
    raw: list[RawRun] = field(default_factory=list)  # the worker's fetch settings
    raw_defaults: list[RawRun] = field(default_factory=list)  # librdkafka's defaults
    core: list[CoreRun] = field(default_factory=list)
    groups: list[GroupRun] = field(default_factory=list)  # with --processes N
    memory: tuple[int, int] | None = None  # monitors restored alone: (RSS growth, traced)
    failures: list[str] = field(default_factory=list)

    @property
    def worker_rate(self) -> float | None:
        # A run too short to time has rate NaN: it is shown, never the headline.
        return median([w.rate for w in self.worker])

    @property
    def second_half_rate(self) -> float | None:
        return median([w.second_half_rate for w in self.worker
                       if w.second_half_rate is not None])

    @property
    def cpu_per_event(self) -> float | None:
        return median([w.cpu_per_event for w in self.worker])

    @property
    def raw_rate(self) -> float | None:
        return median([r.rate for r in self.raw])

    @property
    def raw_defaults_rate(self) -> float | None:
        return median([r.rate for r in self.raw_defaults])

    @property
    def core_rate(self) -> float | None:
        return median([c.rate for c in self.core])

    def last(self) -> WorkerRun | None:
        return self.worker[-1] if self.worker else None


@dataclass
class LatencyResult:
    target_rate: float
    achieved_rate: float
    events: int
    features: int
    models: int
    shifted_models: int
    shifted_features: int
    episodes: int  # shifts per shifted model (up, then back down)
    consumed: int = 0
    lag_events: int = 0  # produced but not yet counted by the worker when producing ended
    drain_seconds: float = 0.0  # from the end of producing until the worker counted all
    worker_cpu: float = float("nan")  # cores the worker used from ready to drained
    batches: int = 0  # batches the worker processed (streamproc_batch_duration_seconds)
    batch_seconds: float = 0.0  # their total processing time
    latencies_ms: list[float] = field(default_factory=list)  # steady state: the target's
    cold_model: str = ""  # the model that shifts right after every reference is fitted
    cold_ms: list[float] = field(default_factory=list)  # its alerts' latencies
    hops: dict[str, list[float]] = field(default_factory=dict)  # loop shape -> latencies (ms)
    failures: list[str] = field(default_factory=list)


@dataclass
class StateResult:
    models: int
    features: int
    phases: list[int] = field(default_factory=list)  # events included after each phase
    rss_idle: int = 0
    rss: list[int] = field(default_factory=list)  # after each phase
    checkpoint_seconds: list[float | None] = field(default_factory=list)  # mean per phase
    snapshot_json: list[int] = field(default_factory=list)  # after each phase
    snapshot_compressed: list[int] = field(default_factory=list)
    encode_seconds: list[float] = field(default_factory=list)  # in-process, after each phase
    memory: list[tuple[int, int]] = field(default_factory=list)  # restored alone, each phase
    failures: list[str] = field(default_factory=list)

    @property
    def monitored(self) -> int:
        return self.models * self.features


@dataclass
class Profile:
    revision: str
    seconds: float
    samples: int
    main_samples: int
    lines: list[tuple[str, float]] = field(default_factory=list)  # self time by line
    functions: list[tuple[str, float]] = field(default_factory=list)  # inclusive by function
    note: str = ""
