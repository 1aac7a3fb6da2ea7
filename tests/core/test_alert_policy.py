"""Alert policy: one alert per episode, cooldown, re-baselining, warm-up."""

from __future__ import annotations

import numpy as np

from streamproc.core.contracts.detection import SEVERITIES
from streamproc.core.monitors.numeric import NumericMonitor
from streamproc.core.settings import MonitorSettings


def _run(settings: MonitorSettings, x: np.ndarray) -> tuple[NumericMonitor, list]:
    mon = NumericMonitor(settings, "feature", "x")
    mon.calibrate(1e7)
    pos = np.arange(len(x))
    return mon, mon.update(x, pos, pos.astype(float))


def test_abrupt_shift_alerts_once_then_relearns() -> None:
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0, 1, 20_000), rng.normal(2, 1, 40_000)])
    mon, hits = _run(MonitorSettings(), x)
    assert [(d.detector, d.position, d.suppressed) for d in hits] == [
        ("cusum", 20_031, False)]
    ref = mon.reference
    assert ref is not None and ref["start_position"] == 20_032 and abs(ref["mean"] - 2) < 0.1


def test_a_long_ramp_alerts_once_per_cooldown_unless_it_escalates() -> None:
    rng = np.random.default_rng(2)
    ramp = np.linspace(0, 8, 60_000)
    x = np.concatenate([rng.normal(0, 1, 10_000), ramp + rng.normal(0, 1, 60_000)])
    _, hits = _run(MonitorSettings(cooldown_events=20_000), x)
    alerted = [(d.position, SEVERITIES.index(d.severity)) for d in hits if not d.suppressed]
    assert sum(d.suppressed for d in hits) >= 1  # counted, not published
    for (a, sev_a), (b, sev_b) in zip(alerted, alerted[1:], strict=False):
        assert b - a >= 20_000 or sev_b > sev_a
    # The second mean alert (an escalation) says the level keeps moving: from then on the
    # monitor tests the range widened by the levels it went through, which the ramp
    # leaves now and then (before the level-wander rule: 23,279, 43,279 and 63,279, one
    # cusum alert per cooldown).
    assert [p for p, _ in alerted] == [11_791, 15_983, 43_942, 65_321]
    second = [d for d in hits if not d.suppressed][1]
    assert "level_wander" in second.statistics and "trend" in second.description


def test_a_change_after_a_false_alarm_is_not_learnt_as_normal() -> None:
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(0, 1, 9_000), rng.normal(0, np.sqrt(2), 11_000)])
    mon = NumericMonitor(MonitorSettings(cooldown_events=5_000), "feature", "x")
    mon.calibrate(1e7)
    pos = np.arange(len(x))
    early = mon.update(x[:4_000], pos[:4_000], pos[:4_000].astype(float))
    assert early == []
    # Inject a false alarm's cooldown: an alert just before the variance change.
    mon._last_alert["monitor"] = [8_500, 1]
    hits = mon.update(x[4_000:], pos[4_000:], pos[4_000:].astype(float))
    alerted = [d for d in hits if not d.suppressed]
    assert alerted and alerted[0].detector == "spread"
    assert alerted[0].position <= 8_500 + 5_000 + 100  # at the latest when the cooldown ends


def test_warm_up_is_exposed() -> None:
    # Independent values: the reference is its first window.
    x = np.random.default_rng(8).normal(size=100)
    mon = NumericMonitor(MonitorSettings(reference_size=100), "feature", "x")
    assert mon.learning
    mon.update(x[:99], np.arange(99), np.arange(99.0))
    assert mon.learning
    mon.update(x[99:], np.array([99]), np.array([99.0]))
    assert not mon.learning


def test_a_dependent_reference_refines_longer_and_detects_meanwhile() -> None:
    # A strongly dependent stream: the reference refines for up to 10 windows so that it
    # covers more than a sliver of the stream, and detects against its first window
    # meanwhile (before: it only learnt, and whatever happened then was learnt as normal).
    rng = np.random.default_rng(3)
    x = np.zeros(1000)
    for t in range(1, 1000):
        x[t] = 0.95 * x[t - 1] + rng.normal() * np.sqrt(1 - 0.95**2)
    mon = NumericMonitor(MonitorSettings(reference_size=100), "feature", "x")
    mon.calibrate(1e7)
    assert mon.update(x[:999], np.arange(999), np.arange(999.0)) == []
    assert not mon.learning and mon.stage == "refining"
    mon.update(x[999:], np.array([999]), np.array([999.0]))
    assert mon.stage == "detecting"
    assert mon.reference["n"] == 1000
