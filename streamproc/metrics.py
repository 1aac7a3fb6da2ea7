"""Prometheus metrics of a worker, named per the Prometheus conventions.

Process counters (events, alerts, rejections) are prometheus-client counters.
Monitor gauges (observations, current and reference means) and label-join counts
are read from the monitor state at scrape time, so they come back with the state
after a restart instead of starting from zero.

The exposition stays bounded at any cardinality. Per-monitor series are exported for at
most ``metrics_max_series`` monitors: those that alerted in this worker first (the
latest first), then the highest drift scores (:func:`chosen`); what the cap hides is
counted in ``streamproc_metrics_series_dropped``. Per-model series (events consumed,
last event time, alerts, suppressed detections) exist only for the models the worker
holds (at most ``max_models`` plus the listed ones): an evicted model's, or a handed-over
partition's, are removed, and refused models never get any.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .core import PartitionMonitors

__all__ = ["MonitorRow", "PerformanceRow", "ScrapeView", "WorkerMetrics", "chosen", "monitor_key",
           "scrape_view"]


@dataclass(frozen=True)
class MonitorRow:
    model_id: str
    signal: str
    feature: str
    observations: int
    mean: float | None
    reference_mean: float | None
    reference_sd: float | None
    learning: bool = False
    scores: tuple[tuple[str, float], ...] = ()  # (detector, statistic / threshold)
    dependence: float | None = None
    stage: str = "detecting"


@dataclass(frozen=True)
class PerformanceRow:
    """One metric of a scored classifier's version: estimated (with its 95% interval)
    and, where labels arrived, realised."""

    model_id: str
    model_version: str
    metric: str
    estimate: float | None
    lower: float | None
    upper: float | None
    realised: float | None


@dataclass(frozen=True)
class ScrapeView:
    """What the main loop last published for scrapes (swapped atomically)."""

    monitors: tuple[MonitorRow, ...] = ()
    joins: tuple[tuple[str, str, int], ...] = ()  # (model_id, outcome, count)
    performance: tuple[PerformanceRow, ...] = ()
    partitions: tuple[int, ...] = ()
    failed: tuple[int, ...] = ()
    extra: dict[str, float] = field(default_factory=dict)


# A feature's data-quality detectors alert with signal data_quality: so do their scores.
_DATA_QUALITY = {"missing_rate": "data_quality", "type_mismatch_rate": "data_quality",
                 "out_of_range": "data_quality"}


def monitor_key(model_id: str, signal: str, feature: str | None) -> tuple[str, str, str]:
    """The monitor an alert (or a row) is about: data-quality alerts are a feature's
    monitor's, the prediction's and performance's have no feature name.

    >>> monitor_key("m", "data_quality", "x") == monitor_key("m", "feature", "x")
    True
    >>> monitor_key("m", "prediction", None) == monitor_key("m", "prediction", "prediction")
    True
    """
    signal = "feature" if signal == "data_quality" else signal
    if signal == "performance" or (signal == "prediction" and feature == "prediction"):
        feature = None
    return model_id, signal, feature or ""


def _top_score(row: MonitorRow) -> float:
    return max((v for _, v in row.scores if math.isfinite(v)), default=-math.inf)


def chosen(rows: tuple[MonitorRow, ...], cap: int,
           alerted: dict[tuple[str, str, str], None]) -> list[MonitorRow]:
    """The monitors whose series are exported: all of them up to ``cap``; beyond, those
    that alerted (most recent first), then the highest drift scores (ties by name).

    >>> rows = tuple(MonitorRow(m, "feature", "x", 1, None, None, None, scores=(("cusum", s),))
    ...              for m, s in (("a", 0.1), ("b", 0.9), ("c", 0.5)))
    >>> [r.model_id for r in chosen(rows, 2, {})]
    ['b', 'c']
    >>> [r.model_id for r in chosen(rows, 2, {("a", "feature", "x"): None})]
    ['a', 'b']
    """
    if len(rows) <= cap:
        return list(rows)
    recency = {key: i for i, key in enumerate(reversed(alerted))}
    never = len(recency)

    def rank(row: MonitorRow) -> tuple[int, float]:
        return recency.get(monitor_key(row.model_id, row.signal, row.feature), never), \
            -_top_score(row)

    # rows are sorted by name: a stable sort keeps ties in that order
    return sorted(rows, key=rank)[:cap]


class _MonitorCollector(Collector):
    """The series read from the published :class:`ScrapeView` at scrape time.

    ``describe()`` names them, so a scrape restricted with ``?name[]=`` to other series
    does not render these (with many models they are most of the exposition).
    """

    def __init__(self, owner: WorkerMetrics) -> None:
        self._owner = owner

    def describe(self) -> Iterable[Metric]:
        return list(self._render(ScrapeView()))

    def collect(self) -> Iterable[Metric]:
        return self._render(self._owner.view)

    def _render(self, view: ScrapeView) -> Iterable[Metric]:
        cap = self._owner.max_series
        labels = ["model_id", "signal", "feature"]
        obs = GaugeMetricFamily(
            "streamproc_monitor_observations",
            "Events absorbed by a monitor (restored with its state after a restart)",
            labels=labels,
        )
        mean = GaugeMetricFamily(
            "streamproc_feature_mean",
            "Current mean of a monitored signal (ADWIN window; the rate for error rates)",
            labels=labels,
        )
        ref_mean = GaugeMetricFamily(
            "streamproc_feature_reference_mean", "Mean of the current reference window",
            labels=labels,
        )
        ref_sd = GaugeMetricFamily(
            "streamproc_feature_reference_sd",
            "Standard deviation of the current reference window",
            labels=labels,
        )
        learning = GaugeMetricFamily(
            "streamproc_monitor_learning",
            "1 while a monitor collects its reference (warm-up, no detection yet), else 0",
            labels=labels,
        )
        stage = GaugeMetricFamily(
            "streamproc_monitor_stage",
            "1 for a monitor's stage (label stage): learning (no detection yet), provisional "
            "or refining (detecting against a reference still being learnt) or detecting",
            labels=[*labels, "stage"],
        )
        dependence = GaugeMetricFamily(
            "streamproc_monitor_dependence",
            "Variance inflation factor of a monitor's reference (long-run variance / "
            "variance; 1 = independent values): how dependent the stable stream is",
            labels=labels,
        )
        score = GaugeMetricFamily(
            "streamproc_drift_score",
            "How close a detector is to alerting: its statistic / its threshold (1 = alert)",
            labels=[*labels, "detector"],
        )
        shown = chosen(view.monitors, cap, self._owner.alerted)
        for row in shown:
            key = [row.model_id, row.signal, row.feature]
            obs.add_metric(key, row.observations)
            learning.add_metric(key, 1.0 if row.learning else 0.0)
            stage.add_metric([*key, row.stage], 1.0)
            for family, value in ((mean, row.mean), (ref_mean, row.reference_mean),
                                  (ref_sd, row.reference_sd), (dependence, row.dependence)):
                if value is not None and math.isfinite(value):
                    family.add_metric(key, value)
            for detector, value in row.scores:
                if math.isfinite(value):
                    signal = _DATA_QUALITY.get(detector, row.signal) \
                        if row.signal == "feature" else row.signal
                    score.add_metric([row.model_id, signal, row.feature, detector], value)
        dropped = GaugeMetricFamily(
            "streamproc_metrics_series_dropped",
            "Monitors whose series are not exported because of the metrics_max_series cap "
            "(those kept: the ones that alerted in this worker, then the highest drift scores)",
        )
        dropped.add_metric([], len(view.monitors) - len(shown))
        joins = CounterMetricFamily(
            "streamproc_label_joins",
            "Labels and predictions by join outcome (joined, unmatched_labels, "
            "duplicate_labels, expired_predictions)",
            labels=["model_id", "outcome"],
        )
        for model_id, outcome, count in view.joins:
            joins.add_metric([model_id, outcome], count)
        failed = GaugeMetricFamily(
            "streamproc_partitions_failed",
            "Assigned partitions whose state could not be restored (paused; see logs)",
        )
        failed.add_metric([], len(view.failed))
        yield from (obs, mean, ref_mean, ref_sd, learning, stage, dependence, score, dropped, joins,
                    failed, *_performance(view))


def _performance(view: ScrapeView) -> tuple[Metric, ...]:
    """Estimated performance of scored classifiers (with the bounds of its 95% interval)
    and the realised performance beside it, per model version and metric."""
    labels = ["model_id", "model_version", "metric"]
    what = ("over the last performance_window predictions, estimated from the calibrated "
            "class scores without labels")
    families = (
        GaugeMetricFamily("streamproc_estimated_performance",
                          f"A classifier's performance {what}", labels=labels),
        GaugeMetricFamily("streamproc_estimated_performance_lower",
                          "Lower bound of the 95% interval of the estimated performance",
                          labels=labels),
        GaugeMetricFamily("streamproc_estimated_performance_upper",
                          "Upper bound of the 95% interval of the estimated performance",
                          labels=labels),
        GaugeMetricFamily("streamproc_realized_performance",
                          "A classifier's performance over its last performance_window "
                          "labelled predictions", labels=labels),
    )
    for row in view.performance:
        key = [row.model_id, row.model_version, row.metric]
        for family, value in zip(families, (row.estimate, row.lower, row.upper, row.realised),
                                 strict=True):
            if value is not None and math.isfinite(value):
                family.add_metric(key, value)
    return families


class WorkerMetrics:
    """All metrics of one worker, registered on ``registry``."""

    def __init__(self, registry: CollectorRegistry, max_series: int = 1_000) -> None:
        self.registry = registry
        self.max_series = max_series
        self.view = ScrapeView()
        # Monitors that alerted in this worker, least recent first (their series are
        # exported before the others'); only held models' (see forget_models).
        self.alerted: dict[tuple[str, str, str], None] = {}
        self.events_consumed = Counter(
            "streamproc_events_consumed", "Valid input events absorbed by the monitors (per "
            "model the worker holds: an evicted model's series is removed)",
            ["model_id", "topic"], registry=registry,
        )
        self.events_invalid = Counter(
            "streamproc_events_invalid",
            "Input messages rejected and sent to the dead-letter topic, by reason",
            ["topic", "reason"], registry=registry,
        )
        self.events_redelivered = Counter(
            "streamproc_events_redelivered",
            "Messages skipped because the restored state already includes them",
            ["topic"], registry=registry,
        )
        self.alerts = Counter(
            "streamproc_drift_alerts", "Drift alerts published (per model the worker holds: "
            "an evicted model's series are removed)",
            ["model_id", "signal", "feature", "detector"], registry=registry,
        )
        self.suppressed = Counter(
            "streamproc_detections_suppressed",
            "Detections inside the cooldown of an earlier alert: counted, not alerted",
            ["model_id", "detector"], registry=registry,
        )
        self.delivery_failures = Counter(
            "streamproc_delivery_failures",
            "Failed deliveries to output topics (each is sent again)",
            ["topic", "error"], registry=registry,
        )
        self.checkpoints = Counter(
            "streamproc_checkpoints",
            "State checkpoints by outcome (written, or deferred while outputs are undelivered)",
            ["outcome"], registry=registry,
        )
        self.checkpoint_seconds = Histogram(
            "streamproc_checkpoint_duration_seconds", "Time to write a checkpoint",
            registry=registry, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.snapshot_bytes = Gauge(
            "streamproc_snapshot_bytes", "Size of the last state snapshot of a partition",
            ["partition"], registry=registry,
        )
        self.rewinds = Counter(
            "streamproc_partition_rewinds",
            "Partitions restored from their last snapshot because the core failed on a batch "
            "(the batch's events went to the dead-letter topic)",
            registry=registry,
        )
        self.state_errors = Counter(
            "streamproc_state_restore_errors", "State snapshots that could not be restored",
            registry=registry,
        )
        self.partitions = Gauge(
            "streamproc_partitions_assigned", "Input partition numbers this worker owns",
            registry=registry,
        )
        self.rebalances = Counter(
            "streamproc_rebalances", "Partition assignments received", registry=registry,
        )
        self.batch_seconds = Histogram(
            "streamproc_batch_duration_seconds", "Time to process one polled batch",
            registry=registry, buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.last_event = Gauge(
            "streamproc_last_event_timestamp_seconds",
            "Event timestamp of the latest valid event of a model (models the worker holds)",
            ["model_id", "topic"], registry=registry,
        )
        self.consumer_lag = Gauge(
            "streamproc_consumer_lag_messages",
            "Messages of an assigned input partition not yet read: high watermark minus the "
            "consumer's position (paused partitions are not reported)",
            ["topic", "partition"], registry=registry,
        )
        registry.register(_MonitorCollector(self))

    def count_alert(self, alert: dict[str, Any]) -> None:
        """Count a published alert; its monitor's series are exported first from now on."""
        model_id, signal, feature = alert["model_id"], alert["signal"], alert["feature"]
        self.alerts.labels(model_id, signal, feature or "", alert["detector"]).inc()
        key = monitor_key(model_id, signal, feature)
        self.alerted.pop(key, None)
        self.alerted[key] = None
        while len(self.alerted) > self.max_series:  # only ever the latest matter
            del self.alerted[next(iter(self.alerted))]

    def forget_models(self, model_ids: Iterable[str]) -> None:
        """Remove the per-model series of models the worker no longer holds (evicted, or
        their partition handed over): per-model series stay bounded by the models held."""
        gone = set(model_ids)
        if not gone:
            return
        for metric in (self.events_consumed, self.last_event, self.alerts, self.suppressed):
            for labels in [k for k in list(metric._metrics) if k[0] in gone]:  # noqa: SLF001
                metric.remove(*labels)
        for key in [k for k in self.alerted if k[0] in gone]:
            del self.alerted[key]


def scrape_view(units: dict[int, PartitionMonitors], failed: dict[int, str]) -> ScrapeView:
    """Monitor rows (active version; observations summed over versions) and join counts,
    from the views the core provides."""
    rows: list[MonitorRow] = []
    joins: list[tuple[str, str, int]] = []
    performance: list[PerformanceRow] = []
    for unit in units.values():
        performance += [PerformanceRow(model_id, version, *v)
                        for model_id, version, v in unit.performance_views()]
        rows += [MonitorRow(model_id, v.signal, v.name, v.observations, v.mean,
                            v.reference_mean, v.reference_sd, v.learning,
                            tuple(sorted(v.scores.items())), v.dependence, v.stage)
                 for model_id, v in unit.monitor_views()]
        joins += unit.join_counts()
    rows.sort(key=lambda r: (r.model_id, r.signal, r.feature))
    performance.sort(key=lambda r: (r.model_id, r.model_version, r.metric))
    return ScrapeView(monitors=tuple(rows), joins=tuple(joins), performance=tuple(performance),
                      partitions=tuple(sorted(units)), failed=tuple(sorted(failed)))
