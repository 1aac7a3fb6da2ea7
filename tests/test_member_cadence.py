"""The main loop's periodic work scales with the monitors: the scrape view is rebuilt no
more often than keeps it under its share of the time, and slow checkpoints are logged."""

from __future__ import annotations

import logging

import pytest

from streamproc.config import load_settings
from streamproc.kafka import member as member_module
from streamproc.kafka.member import VIEW_INTERVAL_SECONDS, VIEW_MAX_SHARE, GroupMember
from streamproc.metrics import ScrapeView


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(member_module.time, "monotonic", c)
    return c


def _member_whose_view_takes(seconds: float, clock: Clock, monkeypatch) -> GroupMember:
    def slow_view(units, failed):  # type: ignore[no-untyped-def]
        clock.now += seconds
        return ScrapeView()

    monkeypatch.setattr(member_module, "scrape_view", slow_view)
    return GroupMember(load_settings(None))


def test_a_cheap_view_is_rebuilt_every_interval(clock, monkeypatch) -> None:
    m = _member_whose_view_takes(0.002, clock, monkeypatch)
    started = clock.now
    m.publish_view()
    assert not m.view_due(started + 0.9 * VIEW_INTERVAL_SECONDS)
    assert m.view_due(started + VIEW_INTERVAL_SECONDS)


def test_an_expensive_view_is_rebuilt_less_often(clock, monkeypatch) -> None:
    m = _member_whose_view_takes(0.2, clock, monkeypatch)  # 100,000 monitors take ~0.1-1 s
    started = clock.now
    m.publish_view()
    spacing = 0.2 / VIEW_MAX_SHARE
    assert spacing > VIEW_INTERVAL_SECONDS
    assert not m.view_due(started + VIEW_INTERVAL_SECONDS)
    assert not m.view_due(started + 0.99 * spacing)
    assert m.view_due(started + 1.01 * spacing)


def test_a_slow_checkpoint_is_logged_once_per_ten_minutes(clock, caplog) -> None:
    m = GroupMember(load_settings(None, checkpoint_interval_seconds=4.0))
    with caplog.at_level(logging.WARNING, logger="streamproc.worker"):
        m._warn_if_slow(0.9, 6)  # under a quarter of the interval: quiet
        m._warn_if_slow(1.5, 6)
        m._warn_if_slow(2.0, 6)  # within ten minutes of the last warning
        clock.now += 601
        m._warn_if_slow(3.0, 6)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "a checkpoint of 6 partitions (0 monitors) took 1.50s of every 4s: events wait "
        "meanwhile; raise checkpoint_interval_seconds or spread the models over more workers",
        "a checkpoint of 6 partitions (0 monitors) took 3.00s of every 4s: events wait "
        "meanwhile; raise checkpoint_interval_seconds or spread the models over more workers",
    ]
