"""Scenarios of the detection benchmark: seeded streams, stable and changing.

Every stream is ``numpy.random.default_rng([SEED, sid, rep])``: the same for every
detector, and ``sid`` is part of the seed, so scenarios are never renumbered. Numeric
streams (except the declared-season ones, which need their units) are drawn at a
random location and scale per repetition, which a scale-invariant detector ignores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

__all__ = ["BY_KEY", "CATEGORIES", "CHANGE", "HORIZON", "SCENARIOS", "SEED", "Scenario",
           "make_stream", "stationary_scale"]

SEED = 20_240_611
CHANGE = 10_000  # position of the change in the change scenarios
HORIZON = 20_000  # no detection this many events after the change: a miss
CATEGORIES = np.array(["a", "b", "c", "d"])
_SHARES = np.array([0.4, 0.3, 0.2, 0.1])
# Declared-season streams: 10 events per second of event time, a one-hour cycle.
SEASON_RATE, SEASON_PERIOD = 10.0, 3600.0


@dataclass(frozen=True)
class Scenario:
    sid: int  # part of the seed: never renumber, or every stream changes
    key: str
    title: str
    kind: str  # "numeric", "categorical" or "rate"
    length: int
    change: int | None  # None: stable, the whole stream counts for false alarms
    reps: int = 30
    group: str = "change"  # "iid" / "stable" (false-alarm targets), "change", "info"
    season: float | None = None  # declared seasonality given to streamproc (seconds)
    signal: str = "feature"  # the monitor that watches it: feature or prediction
    random_offset: bool = False  # the change lands anywhere in a block, not on its edge

    @property
    def stable(self) -> bool:
        return self.change is None


def _scn(*args: object, **kw: object) -> Scenario:
    return Scenario(*args, **kw)  # type: ignore[arg-type]


SCENARIOS: tuple[Scenario, ...] = (
    _scn(1, "stationary", "Stationary N(loc, scale), 200k events", "numeric", 200_000, None,
         group="iid"),
    _scn(2, "shift_0.25", "Mean shift +0.25 sd", "numeric", CHANGE + HORIZON, CHANGE),
    _scn(3, "shift_0.5", "Mean shift +0.5 sd", "numeric", CHANGE + HORIZON, CHANGE),
    _scn(4, "shift_1", "Mean shift +1 sd", "numeric", CHANGE + HORIZON, CHANGE),
    _scn(5, "variance_x2", "Variance x2 (sd x sqrt 2)", "numeric", CHANGE + HORIZON, CHANGE),
    _scn(6, "ramp", "Ramp 0 -> +1 sd over 10k events", "numeric", CHANGE + HORIZON, CHANGE),
    _scn(7, "categorical", "Categorical [.4,.3,.2,.1] -> uniform", "categorical",
         CHANGE + HORIZON, CHANGE),
    _scn(8, "error_rate", "Error rate 0.1 -> 0.2", "rate", CHANGE + HORIZON, CHANGE),
    # Stable, dependent or heavy-tailed: false alarms per 100k (>= 1M values each).
    _scn(9, "ar_0.3", "AR(1) phi 0.3", "numeric", 100_000, None, 20, "stable"),
    _scn(10, "ar_0.6", "AR(1) phi 0.6", "numeric", 100_000, None, 20, "stable"),
    _scn(11, "ar_0.9", "AR(1) phi 0.9", "numeric", 100_000, None, 20, "stable"),
    _scn(12, "arma_21", "ARMA(2,1) phi .5 .3, theta .4", "numeric", 100_000, None, 20,
         "stable"),
    _scn(13, "sine_5000", "Sine period 5,000 (> reference), amplitude 1 sd, + N(0,1)",
         "numeric", 100_000, None, 20, "stable"),
    _scn(14, "sine_500", "Sine period 500 (< reference), amplitude 1 sd, + N(0,1)",
         "numeric", 100_000, None, 20, "stable"),
    _scn(15, "student_t3", "Student-t(3), i.i.d.", "numeric", 100_000, None, 20, "stable"),
    _scn(16, "poisson_3", "Poisson(3) counts, i.i.d.", "numeric", 100_000, None, 20, "stable"),
    _scn(17, "cat_sticky", "Categories, sticky (repeat the last w.p. 0.9)", "categorical",
         100_000, None, 20, "stable"),
    _scn(18, "cat_cycle_500", "Category shares cycling, period 500", "categorical", 100_000,
         None, 20, "stable"),
    _scn(19, "err_bursts", "Error rate 0.1 in bursts (P(error | error) = 0.9)", "rate",
         100_000, None, 20, "stable"),
    _scn(20, "err_cycle_5000", "Error rate 0.1 +- 0.05 cycling, period 5,000", "rate",
         100_000, None, 20, "stable"),
    _scn(21, "season_num", "Daily-like cycle (1 h, 3 sd) + N(0,1), seasonality declared",
         "numeric", 200_000, None, 8, "stable", season=SEASON_PERIOD),
    _scn(22, "season_cat", "Category shares cycling (1 h), seasonality declared",
         "categorical", 200_000, None, 8, "stable", season=SEASON_PERIOD),
    _scn(23, "pred_ar_0.9", "Prediction scores, AR(1) phi 0.9", "numeric", 100_000, None, 20,
         "stable", signal="prediction"),
    _scn(24, "random_walk", "Random walk (not stable: it drifts by definition)", "numeric",
         100_000, None, 20, "info"),
    _scn(25, "season_num_undeclared", "Daily-like cycle (1 h, 3 sd), seasonality not declared",
         "numeric", 200_000, None, 8, "info"),
    _scn(26, "cat_cycle_5000", "Category shares cycling, period 5,000 (> reference)",
         "categorical", 100_000, None, 20, "info"),
    # Power and onsets.
    _scn(27, "onset_1", "Mean shift +1 sd at a random offset in a block", "numeric",
         CHANGE + HORIZON, CHANGE, random_offset=True),
    _scn(28, "onset_0.5", "Mean shift +0.5 sd at a random offset in a block", "numeric",
         CHANGE + HORIZON, CHANGE, random_offset=True),
    _scn(29, "ar_0.6_shift_1", "AR(1) phi 0.6, mean shift +1 marginal sd at 30,000",
         "numeric", 50_000, 30_000),
    # Undeclared cycles between and beyond the two above (issue 19: no cliff): 300k
    # values each, as many as the cycle's periods need.
    _scn(30, "sine_1000", "Sine period 1,000, amplitude 1 sd, + N(0,1), no season declared",
         "numeric", 300_000, None, 10, "stable"),
    _scn(31, "sine_2000", "Sine period 2,000, amplitude 1 sd, + N(0,1), no season declared",
         "numeric", 300_000, None, 10, "stable"),
    _scn(32, "sine_3000", "Sine period 3,000, amplitude 1 sd, + N(0,1), no season declared",
         "numeric", 300_000, None, 10, "stable"),
    _scn(33, "sine_7000", "Sine period 7,000, amplitude 1 sd, + N(0,1), no season declared",
         "numeric", 300_000, None, 10, "stable"),
    _scn(34, "sine_10000", "Sine period 10,000, amplitude 1 sd, + N(0,1), no season declared",
         "numeric", 300_000, None, 10, "stable"),
    _scn(35, "sine_20000", "Sine period 20,000, amplitude 1 sd, + N(0,1), no season declared",
         "numeric", 300_000, None, 10, "stable"),
    _scn(36, "sine_50000", "Sine period 50,000, amplitude 1 sd, + N(0,1), no season declared",
         "numeric", 300_000, None, 10, "stable"),
)
BY_KEY = {s.key: s for s in SCENARIOS}


def _loc_scale(rng: np.random.Generator) -> tuple[float, float]:
    return rng.uniform(-1000.0, 1000.0), 10.0 ** rng.uniform(-3.0, 3.0)


def stationary_scale(rep: int) -> float:
    """The scale drawn for one stationary repetition (replays the start of its stream)."""
    return _loc_scale(np.random.default_rng([SEED, BY_KEY["stationary"].sid, rep]))[1]


def _markov_flags(rng: np.random.Generator, n: int, p: float, stay: float) -> np.ndarray:
    """0/1 with stationary rate p and P(1 | 1) = stay (bursts)."""
    start = p * (1.0 - stay) / (1.0 - p)
    u = rng.random(n)
    out = np.zeros(n, dtype=bool)
    for t in range(1, n):
        out[t] = u[t] < (stay if out[t - 1] else start)
    return out


def _draw_shares(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    """One category code per row of per-event shares ``p`` (n x 4)."""
    return (rng.random(len(p))[:, None] > np.cumsum(p, axis=1)).sum(axis=1)


def _cycling_shares(n: int, phase: np.ndarray, amplitude: float) -> np.ndarray:
    w = amplitude * np.sin(phase)
    return np.stack([_SHARES[0] + w, _SHARES[1] - w, np.full(n, _SHARES[2]),
                     np.full(n, _SHARES[3])], axis=1)


def make_stream(scn: Scenario, rep: int) -> tuple[np.ndarray, np.ndarray, int | None]:
    """(values, event times, change position) of one repetition: the same for every
    detector. Categorical streams are category codes 0-3; rates are booleans."""
    rng = np.random.default_rng([SEED, scn.sid, rep])
    n, c = scn.length, scn.change
    if c is not None and scn.random_offset:
        c += int(rng.integers(0, 16))
    ts = np.arange(n, dtype=np.float64)
    key = scn.key
    if key.startswith("season"):
        ts = 1.7e9 + np.arange(n) / SEASON_RATE
        phase = 2 * math.pi * (ts % SEASON_PERIOD) / SEASON_PERIOD
        if scn.kind == "categorical":
            return _draw_shares(rng, _cycling_shares(n, phase, 0.15)), ts, None
        return 5.0 + 3.0 * np.sin(phase) + rng.normal(size=n), ts, None
    if scn.kind == "categorical":
        if key == "cat_sticky":
            draws = rng.choice(4, n, p=_SHARES)
            keep = rng.random(n) < 0.9
            for t in range(1, n):
                if keep[t]:
                    draws[t] = draws[t - 1]
            return draws, ts, None
        if key.startswith("cat_cycle"):
            period = float(key.rsplit("_", 1)[1])
            phase = 2 * math.pi * np.arange(n) / period + rng.uniform(0, 2 * math.pi)
            return _draw_shares(rng, _cycling_shares(n, phase, 0.1)), ts, None
        assert c is not None
        before = rng.choice(4, c, p=_SHARES)
        after = rng.choice(4, n - c, p=[0.25, 0.25, 0.25, 0.25])
        return np.concatenate([before, after]), ts, c
    if scn.kind == "rate":
        if key == "err_bursts":
            return _markov_flags(rng, n, 0.1, 0.9), ts, None
        if key == "err_cycle_5000":
            p = 0.1 + 0.05 * np.sin(2 * math.pi * np.arange(n) / 5000 + rng.uniform(0, 6.3))
            return rng.random(n) < p, ts, None
        assert c is not None
        return np.concatenate([rng.random(c) < 0.1, rng.random(n - c) < 0.2]), ts, c
    return _numeric(scn, rng, n, c), ts, c


_PHI = {"ar_0.3": 0.3, "ar_0.6": 0.6, "ar_0.9": 0.9, "pred_ar_0.9": 0.9, "ar_0.6_shift_1": 0.6}


def _numeric(scn: Scenario, rng: np.random.Generator, n: int, c: int | None) -> np.ndarray:
    key = scn.key
    if key == "stationary":
        loc, scale = _loc_scale(rng)
        return rng.normal(loc, scale, n)
    if c is not None and key not in _PHI:  # the change scenarios: N(0, 1) before
        x = rng.normal(0.0, 1.0, n)
        if key.startswith("shift_") or key.startswith("onset_"):
            x[c:] += float(key.split("_", 1)[1])
        elif key == "variance_x2":
            x[c:] *= math.sqrt(2.0)
        elif key == "ramp":
            x += np.clip((np.arange(n) - c) / 10_000.0, 0.0, 1.0)
        return x
    loc, scale = _loc_scale(rng)
    e = rng.normal(size=n + 2000)
    if key in _PHI:
        phi = _PHI[key]
        x = lfilter([1.0], [1.0, -phi], e)[2000:]
        if c is not None:
            x[c:] += 1.0 / math.sqrt(1.0 - phi * phi)  # one marginal sd
        return loc + scale * x
    if key == "arma_21":
        return loc + scale * lfilter([1.0, 0.4], [1.0, -0.5, -0.3], e)[2000:]
    if key.startswith("sine_"):
        period = float(key.split("_")[1])
        phase = 2 * math.pi * np.arange(n) / period + rng.uniform(0, 2 * math.pi)
        return loc + scale * (np.sin(phase) + e[2000:])
    if key == "student_t3":
        return loc + scale * rng.standard_t(3, n)
    if key == "poisson_3":
        return rng.poisson(3, n).astype(np.float64)
    if key == "random_walk":
        return loc + scale * np.cumsum(e[2000:])
    raise ValueError(f"no stream for scenario {key!r}")
