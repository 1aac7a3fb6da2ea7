"""Any of River's drift detectors, by configuration, with safe state and calibration.

``models.<id>.detectors: [{river: drift.KSWIN, params: {alpha: 0.001}}]`` adds a
River detector to the monitors of a model (``detection.detectors`` to every
model). Numeric detectors (``drift.ADWIN``, ``drift.PageHinkley``, ``drift.KSWIN``)
read the monitor's block means of whitened normal scores, one update per block;
binary ones (``drift.binary.DDM``, ...) read the 0/1 errors of a classifier's
performance monitor, one update per labelled prediction. Alerts name them
``river.<path>`` (e.g. ``river.drift.KSWIN``); River does not estimate an onset,
so their onset is the detection itself.

**State** is the detector's attributes as JSON, read back through a whitelist: the
configured class is built from its own parameters, then each attribute that a
fresh instance has is set from the snapshot, with the fresh attribute's type;
nested objects are restored only for the River classes listed in
:data:`_NESTED`, and Rust helpers from their own state bytes. No other class is
ever constructed from the state topic (:mod:`.state`).

**Calibration** (``calibrate: true``, for the detectors in :data:`CALIBRATION`):
River's parameters are not false-alarm rates (its PageHinkley at defaults fires
~1,400 times per 100k stable events).
When the monitor's reference is complete, the detector is replayed on bootstrap
resamples of the reference's own inputs at a few loose settings of its
sensitivity parameter, where alarms are frequent enough to count; the mean run
length between alarms (less the detector's warm-up) is fitted against the parameter
on the scale where it is about log-linear (the threshold for PageHinkley, with
Siegmund's slope 2 delta / variance; log(1/alpha) for KSWIN, slope 1; log(1/confidence)
for HDDM), and the parameter that gives the budget's run length is read off the fit.
ADWIN needs no replay: its delta is its false-alarm rate per check. DDM is not
offered: its false alarms come from its first estimates (a reference start without
errors makes any error alarm) and do not fall off smoothly with drift_threshold.
The replay is seeded by the reference itself, so it is deterministic
(:mod:`.calibration`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ...calibration import adwin_delta
from ...errors import InvalidSetting, InvalidState
from ..contract import FitContext, Report, SequentialDetector
from ..registry import REGISTRY, register
from .calibration import CALIBRATION, calibrate_by_replay
from .classes import RIVER_CLASSES, river_name
from .state import load_river, river_params, save_river

__all__ = ["RiverDetector", "RiverSpec"]


@dataclass(frozen=True)
class RiverSpec:
    """One configured River detector (validated by :meth:`check`)."""

    river: str
    params: tuple[tuple[str, Any], ...] = ()
    signals: frozenset[str] = frozenset({"feature", "prediction", "performance"})
    features: frozenset[str] | None = None
    calibrate: bool = False

    @property
    def path(self) -> str:
        return river_name(self.river)

    @property
    def binary(self) -> bool:
        return self.path.startswith("drift.binary.")

    @property
    def name(self) -> str:
        return "river." + self.path

    def check(self) -> None:
        """ValueError with one sentence if the class, parameters or options are wrong."""
        path = self.path
        try:
            RIVER_CLASSES[path](**dict(self.params))
        except (TypeError, ValueError) as exc:
            raise InvalidSetting(f"River detector {path} rejects params {dict(self.params)}: "
                             f"{exc}") from None
        if self.calibrate:
            cal = CALIBRATION.get(path)
            if cal is None:
                raise InvalidSetting(f"calibrate: true is available for {', '.join(CALIBRATION)}, "
                                 f"not {path}")
            if cal.param in dict(self.params):
                raise InvalidSetting(f"{path}: with calibrate: true streamproc chooses "
                                 f"{cal.param}; remove it from params")

    def applies_to(self, signal: str, feature: str | None) -> bool:
        if signal not in self.signals:
            return False
        return self.features is None or (feature or "") in self.features


# -- the detector ---------------------------------------------------------------------------
@dataclass
class _Fitted:
    path: str
    params: dict[str, Any]
    calibrate: bool
    block_size: int
    binary: bool
    sample: list[float] = field(default_factory=list)  # bootstrap source for calibration
    evidence: dict[str, Any] = field(default_factory=dict)


class RiverDetector(SequentialDetector):
    """A configured River detector (see the module docstring)."""

    river_path: ClassVar[str]

    def __init__(self, fitted: _Fitted, det: Any = None, n: int = 0) -> None:
        self.fitted = fitted
        self.det = det if det is not None else RIVER_CLASSES[fitted.path](**fitted.params)
        self._n = n
        self._arl: float | None = None

    @classmethod
    def fit(cls, ctx: FitContext) -> RiverDetector:
        """A River detector as ``ctx.spec`` configures it (the registered class's own
        River class by default); ``ctx.sample`` calibrates it."""
        spec = ctx.spec if ctx.spec is not None else RiverSpec(cls.river_path)
        fitted = _Fitted(spec.path, river_params(spec.path, dict(spec.params)), spec.calibrate,
                         1 if spec.binary else ctx.settings.block_size, spec.binary)
        if spec.calibrate and ctx.sample is not None and len(ctx.sample):
            fitted.sample = [float(v) for v in ctx.sample]
        return cls(fitted)

    @staticmethod
    def fit_spec(spec: RiverSpec, ctx: FitContext) -> RiverDetector:
        """The registered wrapper of ``spec``'s River class, fitted."""
        ctx.spec = spec
        return REGISTRY[spec.name].fit(ctx)  # type: ignore[return-value]

    def calibrate(self, arl_events: float) -> None:
        f = self.fitted
        cal = CALIBRATION.get(f.path)
        if not f.calibrate or cal is None or self._arl == arl_events:
            return
        self._arl = arl_events
        target = arl_events / f.block_size
        try:
            if cal.method == "bound":
                clock = int(f.params.get("clock", 32))
                value = adwin_delta(target, clock)
                evidence: dict[str, Any] = {"method": "ADWIN bound: clock / ARL"}
            elif not f.sample:
                raise InvalidSetting("the reference gave nothing to replay")
            else:
                value, evidence = calibrate_by_replay(
                    f.path, {k: v for k, v in f.params.items() if k != cal.param},
                    np.asarray(f.sample), target, f.binary)
        except ValueError as exc:
            # Never fail on an event: a detector that cannot be calibrated on this
            # reference stays silent until the next one (its reason is kept).
            f.evidence = {"disabled": str(exc)}
            self._n = 0
            return
        f.params[cal.param] = value
        f.evidence = evidence
        self.det = RIVER_CLASSES[f.path](**f.params)
        self._n = 0

    @property
    def disabled(self) -> bool:
        return "disabled" in self.fitted.evidence

    @property
    def drift_detected(self) -> bool:
        return bool(self.det.drift_detected)

    def restart(self) -> None:
        self.det._reset()
        self._n = 0

    def step(self, inp: Any, k: int) -> bool:
        if self.disabled:
            return False
        value = bool(inp.x[k]) if self.fitted.binary else float(inp.mean[k])
        self.det.update(value)
        self._n += 1
        return bool(self.det.drift_detected)

    def report(self, position: int, reference: dict[str, Any]) -> Report:
        return Report(onset=(position, reference.get("timestamp", 0.0)), direction="changed",
                      severity="medium", current={"n": self._n * self.fitted.block_size},
                      extra={})

    def params(self) -> dict[str, Any]:
        import river

        f = self.fitted
        out = {"implementation": f"river.{f.path} (river {river.__version__})", **f.params,
               "calibrated": f.calibrate}
        if f.evidence:
            out["calibration"] = f.evidence
        return out

    def to_state(self) -> dict[str, Any]:
        f = self.fitted
        return {"path": f.path, "params": f.params, "calibrate": f.calibrate,
                "block": f.block_size, "binary": f.binary, "sample": f.sample,
                "evidence": f.evidence, "n": self._n, "arl": self._arl,
                "attrs": save_river(self.det)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RiverDetector:
        path = river_name(str(state["path"]))
        if "river." + path != cls.name:
            raise InvalidState(f"state of {path} given to {cls.name}")
        params = {str(k): v for k, v in dict(state["params"]).items()}
        fitted = _Fitted(path, params, bool(state["calibrate"]), int(state["block"]),
                         bool(state["binary"]), [float(v) for v in state["sample"]],
                         dict(state["evidence"]))
        det = cls(fitted, load_river(path, params, dict(state["attrs"])), int(state["n"]))
        det._arl = None if state["arl"] is None else float(state["arl"])
        return det

    @classmethod
    def describe(cls, statistics: dict[str, Any], direction: str) -> str:
        return f"{cls.name} detected a change"


def _register_all() -> None:
    for path in RIVER_CLASSES:
        cls = type(f"River_{path.replace('.', '_')}", (RiverDetector,), {
            "name": "river." + path,
            "input": "flags" if path.startswith("drift.binary.") else "blocks",
            "river_path": path,
        })
        register(cls)


_register_all()
