"""/metrics over real HTTP: the whole exposition, and ``?name[]=`` restricted to some series
without rendering the per-monitor ones (most of a many-model exposition)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from streamproc import metrics as metrics_module
from streamproc.http import Health, HttpEndpoint
from streamproc.metrics import MonitorRow, ScrapeView, WorkerMetrics


@pytest.fixture()
def served() -> Iterator[tuple[WorkerMetrics, str]]:
    m = WorkerMetrics(CollectorRegistry())
    m.view = ScrapeView(monitors=tuple(
        MonitorRow(f"m{i}", "feature", "x", 100 + i, 0.5, 0.4, 1.0, scores=(("adwin", 0.2),))
        for i in range(3)))
    m.events_consumed.labels(model_id="m0", topic="features").inc(7)
    m.events_invalid.labels(topic="features", reason="schema").inc(2)
    http = HttpEndpoint("127.0.0.1", 0, m.registry, Health())
    http.start()
    try:
        yield m, http.url
    finally:
        http.stop()


def _samples(url: str) -> dict[str, list[float]]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample.value)
    return out


def test_the_whole_exposition_has_counters_and_monitor_series(served) -> None:
    _, url = served
    got = _samples(url)
    assert got["streamproc_events_consumed_total"] == [7.0]
    assert got["streamproc_monitor_observations"] == [100.0, 101.0, 102.0]
    assert got["streamproc_drift_score"] == [0.2, 0.2, 0.2]
    assert "streamproc_batch_duration_seconds_count" in got


def test_name_filter_returns_only_those_series_and_skips_the_monitor_rows(
        served, monkeypatch) -> None:
    _, url = served
    calls: list[int] = []
    collect = metrics_module._MonitorCollector.collect

    def counted(self):  # type: ignore[no-untyped-def]
        calls.append(1)
        return collect(self)

    monkeypatch.setattr(metrics_module._MonitorCollector, "collect", counted)
    got = _samples(url + "?name[]=streamproc_events_consumed_total"
                         "&name[]=streamproc_events_invalid_total")
    assert got == {"streamproc_events_consumed_total": [7.0],
                   "streamproc_events_invalid_total": [2.0]}
    assert calls == []  # the per-monitor series were not rendered at all

    got = _samples(url + "?name[]=streamproc_monitor_observations")
    assert got == {"streamproc_monitor_observations": [100.0, 101.0, 102.0]}
    assert calls == [1]


def test_an_unknown_name_gives_an_empty_exposition_not_an_error(served) -> None:
    _, url = served
    assert _samples(url + "?name[]=no_such_metric") == {}
