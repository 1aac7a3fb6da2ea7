"""Calibrating a River detector's sensitivity parameter by replaying it on the
reference (the method is in :mod:`.adapter`'s docstring)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import InvalidSetting
from .classes import RIVER_CLASSES

__all__ = ["CALIBRATION", "calibrate_by_replay"]


@dataclass(frozen=True)
class _Calibration:
    param: str
    scale: str  # "linear", "square" or "log_inverse": where log(run length) is ~linear
    ladder: tuple[float, ...]  # settings where alarms are frequent enough to count
    warmup: str | None = None  # parameter holding the updates before a first alarm
    # "replay", or "bound": ADWIN's own bound already is a false-alarm rate per check
    # (delta), and even delta = 0.9 alarms too rarely on block means to be counted.
    method: str = "replay"
    updates: int = 50_000  # replay budget per ladder step
    alarms: int = 30  # alarms that end a ladder step
    # Known slope of log(run length) on the g scale, as a function of the replayed
    # inputs and parameters (None: fitted from the strictest two usable steps).
    slope: Callable[[np.ndarray, dict[str, Any]], float] | None = None


def _page_hinkley_slope(sample: np.ndarray, params: dict[str, Any]) -> float:
    # River's PageHinkley walks like a CUSUM with drift -delta per update: Siegmund's
    # exponent 2 delta / variance per unit of threshold.
    delta = float(params.get("delta", 0.005))
    return 2.0 * delta / max(float(np.var(sample)), 1e-12)


def _one(sample: np.ndarray, params: dict[str, Any]) -> float:
    # A test whose false alarms per update are about its level: run length ~ 1 / alpha.
    return 1.0


CALIBRATION: dict[str, _Calibration] = {
    "drift.ADWIN": _Calibration("delta", "log_inverse", (), method="bound"),
    "drift.PageHinkley": _Calibration("threshold", "linear", (3.0, 4.0, 6.0, 8.0),
                                      warmup="min_instances", slope=_page_hinkley_slope),
    # KSWIN runs a Kolmogorov-Smirnov test per update (~0.7 ms here): a smaller replay.
    "drift.KSWIN": _Calibration("alpha", "log_inverse", (0.05, 0.02, 0.01),
                                warmup="window_size", updates=8_000, alarms=12, slope=_one),
    "drift.binary.HDDMA": _Calibration("drift_confidence", "log_inverse", (0.5, 0.3, 0.2, 0.1)),
    "drift.binary.HDDMW": _Calibration("drift_confidence", "log_inverse", (0.5, 0.3, 0.2, 0.1)),
}
_MIN_ALARMS = 8  # a ladder step with fewer alarms says too little about its run length


def _g(value: float, scale: str) -> float:
    if scale == "linear":
        return value
    if scale == "square":
        return value * value
    return math.log(1.0 / value)


def _g_inverse(g: float, scale: str) -> float:
    if scale == "linear":
        return g
    if scale == "square":
        return math.sqrt(max(g, 0.0))
    return math.exp(-g)


_CACHE: dict[tuple[Any, ...], tuple[float, dict[str, Any]]] = {}
_CACHE_SIZE = 256


def calibrate_by_replay(
    path: str, params: dict[str, Any], sample: np.ndarray, target_updates: float, binary_: bool
) -> tuple[float, dict[str, Any]]:
    """Cached :func:`_calibrate_by_replay` (the replay is deterministic in its inputs)."""
    key = (path, repr(sorted(params.items())), np.ascontiguousarray(sample).tobytes(),
           target_updates, binary_)
    hit = _CACHE.get(key)
    if hit is None:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        hit = _CACHE[key] = _calibrate_by_replay(path, params, sample, target_updates, binary_)
    return hit[0], dict(hit[1])


def _calibrate_by_replay(
    path: str, params: dict[str, Any], sample: np.ndarray, target_updates: float, binary_: bool
) -> tuple[float, dict[str, Any]]:
    """The sensitivity parameter that gives ``target_updates`` between false alarms.

    Run lengths are modelled as ``W + exp(a + b g(value))``: ``W`` the detector's
    warm-up after each reset (known), ``g`` the scale on which the rest is log-linear.
    Returns (value, evidence): the run lengths measured at each ladder step and the fit.
    """
    cal = CALIBRATION[path]
    cls = RIVER_CLASSES[path]
    seed = int.from_bytes(hashlib.sha256(np.ascontiguousarray(sample).tobytes()).digest()[:8],
                          "little")
    rng = np.random.default_rng(seed)
    warmup = float(params.get(cal.warmup, 0) if cal.warmup else 0)
    if cal.warmup and cal.warmup not in params:
        warmup = float(getattr(cls(**params), cal.warmup))
    points: list[tuple[float, float]] = []
    measured = []
    for value in cal.ladder:
        det = cls(**{**params, cal.param: value})
        draws = rng.choice(sample, cal.updates)
        values = draws.astype(bool).tolist() if binary_ else draws.astype(float).tolist()
        alarms, used = 0, 0
        for used, v in enumerate(values, start=1):  # noqa: B007 - used after the loop
            det.update(v)
            if det.drift_detected:
                alarms += 1
                if alarms >= cal.alarms:
                    break
        measured.append({cal.param: value, "updates": used, "alarms": alarms})
        run = used / alarms if alarms else math.inf
        if alarms >= _MIN_ALARMS and run > 1.5 * warmup:
            points.append((_g(value, cal.scale), math.log(run - warmup)))
    needed = 1 if cal.slope is not None else 2
    if len(points) < needed:
        raise InvalidSetting(f"{path}: the replay saw too few false alarms to calibrate "
                         f"{cal.param} ({measured}); set it by hand instead")
    if cal.slope is not None:
        slope = cal.slope(sample, params)
        intercept = float(np.mean([y - slope * g for g, y in points]))
    else:  # the two steps nearest the target: run lengths are not log-linear everywhere
        (g0, y0), (g1, y1) = sorted(points)[-2:]
        slope = (y1 - y0) / (g1 - g0)
        intercept = y1 - slope * g1
    if slope <= 0:
        raise InvalidSetting(f"{path}: run length does not grow with {cal.param} on this "
                         f"reference ({measured}); set it by hand instead")
    goal = math.log(max(target_updates - warmup, 1.0))
    value = _g_inverse((goal - intercept) / slope, cal.scale)
    return value, {"replays": measured, "warmup": warmup, "slope": float(slope),
                   "intercept": float(intercept)}
