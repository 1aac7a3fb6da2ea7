"""The exposition stays bounded at any cardinality: per-monitor series for at most
``metrics_max_series`` monitors (alerted ones first, then the highest drift scores),
a gauge that says how many were left out, and per-model series only for held models."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from streamproc.metrics import MonitorRow, ScrapeView, WorkerMetrics


def _rows(n: int) -> tuple[MonitorRow, ...]:
    # model i's score is i / n: the highest scores are the last models
    return tuple(MonitorRow(f"m{i:04d}", "feature", "x", 10, 0.1, 0.0, 1.0,
                            scores=(("cusum", i / n),)) for i in range(n))


def _exported(m: WorkerMetrics) -> set[str]:
    text = generate_latest(m.registry).decode()
    return {line.split('model_id="', 1)[1].split('"', 1)[0] for line in text.splitlines()
            if line.startswith("streamproc_monitor_observations{")}


def test_the_cap_keeps_alerted_monitors_then_the_highest_scores() -> None:
    m = WorkerMetrics(CollectorRegistry(), max_series=5)
    m.view = ScrapeView(monitors=_rows(1000))
    m.count_alert({"model_id": "m0007", "signal": "data_quality", "feature": "x",
                   "detector": "missing_rate"})
    assert _exported(m) == {"m0007", "m0999", "m0998", "m0997", "m0996"}
    assert m.registry.get_sample_value("streamproc_metrics_series_dropped") == 995
    assert m.registry.get_sample_value(
        "streamproc_drift_alerts_total", {"model_id": "m0007", "signal": "data_quality",
                                          "feature": "x", "detector": "missing_rate"}) == 1


def test_the_exposition_size_does_not_grow_with_the_monitors() -> None:
    sizes = []
    for n in (2_000, 200_000):
        m = WorkerMetrics(CollectorRegistry(), max_series=1_000)
        m.view = ScrapeView(monitors=_rows(n))
        sizes.append(len(generate_latest(m.registry)))
    assert sizes[1] < 1.05 * sizes[0]  # the same 1,000 monitors (with longer names)
    assert sizes[1] < 2 * 1024 * 1024


def test_forgotten_models_lose_their_series() -> None:
    m = WorkerMetrics(CollectorRegistry())
    for model in ("a", "b"):
        m.events_consumed.labels(model, "features").inc(3)
        m.last_event.labels(model, "features").set(1.0)
        m.count_alert({"model_id": model, "signal": "feature", "feature": "x",
                       "detector": "cusum"})
    m.forget_models(["a"])
    text = generate_latest(m.registry).decode()
    assert 'model_id="a"' not in text and 'model_id="b"' in text
    assert list(m.alerted) == [("b", "feature", "x")]
