"""Alert policy: one alert per episode, cooldown, re-baselining, warm-up."""

from __future__ import annotations

import numpy as np

from streamproc.core.numeric import NumericMonitor
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
        ("page_hinkley", 20_031, False)]
    ref = mon.reference
    assert ref is not None and ref["start_position"] == 20_032 and abs(ref["mean"] - 2) < 0.1


def test_a_long_ramp_is_one_episode_per_cooldown() -> None:
    rng = np.random.default_rng(2)
    ramp = np.linspace(0, 8, 60_000)
    x = np.concatenate([rng.normal(0, 1, 10_000), ramp + rng.normal(0, 1, 60_000)])
    _, hits = _run(MonitorSettings(cooldown_events=20_000), x)
    alerted = [d.position for d in hits if not d.suppressed]
    suppressed = [d.position for d in hits if d.suppressed]
    assert suppressed, "the ramp keeps detecting after each re-baseline"
    assert all(b - a >= 20_000 for a, b in zip(alerted, alerted[1:], strict=False))
    assert alerted[0] > 10_000 and len(alerted) == 3


def test_warm_up_is_exposed() -> None:
    mon = NumericMonitor(MonitorSettings(reference_size=100), "feature", "x")
    assert mon.learning
    mon.update(np.arange(99.0), np.arange(99), np.arange(99.0))
    assert mon.learning
    mon.update(np.array([5.0]), np.array([99]), np.array([99.0]))
    assert not mon.learning
