"""Runners of the detection benchmark: streamproc's monitors and River's detectors.

* ``streamproc (default)``: the monitor a one-feature model runs as deployed (numeric
  or categorical ``FeatureMonitor`` with its data-quality detectors under the
  features' share of the default budget; ``RateMonitor`` for error rates; a
  prediction ``FeatureMonitor`` under the predictions' share), fed 10,000 events per
  ``update``; declared-season scenarios get their ``seasonality``.
* ``River X``: River's detector at its defaults (KSWIN: ``seed=`` only), one value
  at a time (categories as their integer codes, errors as 0/1).
* ``River X (calibrated by streamproc)``: the same River class configured in a
  streamproc numeric monitor with ``calibrate: true`` and no built-in detectors
  (``numeric_detectors: []``): it reads the monitor's whitened block means and its
  parameter is chosen from the reference for the budget (the data-quality detectors
  still run beside it, as in production).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from detection_scenarios import CATEGORIES, Scenario
from river import drift

from streamproc.core.detectors.river.adapter import RiverSpec
from streamproc.core.monitors.rate import RateMonitor
from streamproc.core.settings import MonitorSettings
from streamproc.core.units.feature import FeatureMonitor

__all__ = ["ADWIN", "CALIBRATED", "DDM", "KSWIN", "PH", "STREAMPROC", "run_calibrated",
           "run_river", "run_streamproc"]

CHUNK = 10_000  # events per streamproc update call
STREAMPROC = "streamproc (default)"
ADWIN, PH, KSWIN, DDM = "River ADWIN", "River PageHinkley", "River KSWIN", "River DDM"
CALIBRATED = {  # row -> River path, for River classes calibrated by streamproc
    "River ADWIN (calibrated by streamproc)": "drift.ADWIN",
    "River PageHinkley (calibrated by streamproc)": "drift.PageHinkley",
    "River KSWIN (calibrated by streamproc)": "drift.KSWIN",
}


def _feed(mon: Any, scn: Scenario, x: np.ndarray, ts: np.ndarray, change: int | None,
          keep: Callable[[Any], bool]) -> tuple[list[int], list[str], list[int], list[int]]:
    """Feed a monitor in chunks; (hits, detector names, onsets, suppressed positions)."""
    hits: list[int] = []
    names: list[str] = []
    onsets: list[int] = []
    muted: list[int] = []
    for start in range(0, len(x), CHUNK):
        chunk = x[start : start + CHUNK]
        pos = np.arange(start, start + len(chunk), dtype=np.int64)
        if scn.kind == "numeric":
            data: Any = chunk.tolist()
        elif scn.kind == "categorical":
            data = CATEGORIES[chunk].tolist()
        else:
            data = chunk
        for d in mon.update(data, pos, ts[start : start + len(chunk)]):
            if not keep(d):
                continue
            if d.suppressed:
                muted.append(int(d.position))
            else:
                hits.append(int(d.position))
                names.append(d.detector)
                onsets.append(int(d.onset_position))
        if change is not None and hits and hits[-1] >= change:
            break
    return hits, names, onsets, muted


def _settings(scn: Scenario, specs: tuple[RiverSpec, ...] = ()) -> MonitorSettings:
    return MonitorSettings(seasonality=scn.season, river_detectors=specs,
                           numeric_detectors=() if specs else None)


def run_streamproc(scn: Scenario, x: np.ndarray, ts: np.ndarray,
                   change: int | None) -> tuple[list[int], list[str], list[int], list[int]]:
    settings = _settings(scn)
    budget = settings.budget
    if scn.kind == "rate":
        mon: Any = RateMonitor(settings, "performance", None, "error_rate")
        mon.calibrate(budget.detector_events(1, 1, "performance"))
    elif scn.signal == "prediction":
        mon = FeatureMonitor(settings, "prediction", scn.kind, signal="prediction",
                             quality=False)
        mon.calibrate(budget.detector_events(mon.n_detectors, mon.n_detectors, "predictions"))
    else:
        mon = FeatureMonitor(settings, "x", scn.kind)
        # A one-feature model: the feature's detectors share the features' budget.
        mon.calibrate(budget.detector_events(mon.n_detectors, mon.n_detectors, "features"))
    return _feed(mon, scn, x, ts, change, lambda d: True)


def run_calibrated(scn: Scenario, row: str, x: np.ndarray, ts: np.ndarray,
                   change: int | None) -> tuple[list[int], list[str], list[int], list[int]]:
    spec = RiverSpec(CALIBRATED[row], calibrate=True)
    settings = _settings(scn, (spec,))
    mon = FeatureMonitor(settings, "x", "numeric")
    mon.calibrate(settings.budget.detector_events(mon.n_detectors, mon.n_detectors,
                                                  "features"))
    return _feed(mon, scn, x, ts, change, lambda d: d.detector == spec.name)


def _river_factory(row: str, seed: int) -> Callable[[], Any]:
    if row == ADWIN:
        return drift.ADWIN
    if row == PH:
        return drift.PageHinkley
    if row == KSWIN:
        # KSWIN samples its reference at random; seed= only makes runs repeatable.
        return lambda: drift.KSWIN(seed=seed)
    if row == DDM:
        return drift.binary.DDM
    raise ValueError(row)


def run_river(scn: Scenario, row: str, x: np.ndarray, seed: int,
              change: int | None) -> list[int]:
    det = _river_factory(row, seed)()
    if scn.kind == "rate":
        values: list[Any] = x.tolist() if row == DDM else x.astype(np.float64).tolist()
    else:
        values = x.tolist()  # categories as their integer codes: River takes numbers only
    update = det.update
    hits: list[int] = []
    for i, v in enumerate(values):
        update(v)
        if det.drift_detected:
            hits.append(i)
            if change is not None and i >= change:
                break
    return hits
