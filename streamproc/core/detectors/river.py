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
ever constructed from the state topic.

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
The replay is seeded by the reference itself, so it is deterministic.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from river import drift, stats
from river.drift import binary
from river.drift.binary import hddm_w

from ..calibration import adwin_delta
from . import REGISTRY, register
from .adwin import restore_river_state
from .base import FitContext, Report, SequentialDetector

__all__ = ["CALIBRATION", "RIVER_CLASSES", "RiverDetector", "RiverSpec", "river_name"]


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


# River classes that may be configured, by their path under river.
RIVER_CLASSES: dict[str, type] = {
    "drift.ADWIN": drift.ADWIN,
    "drift.PageHinkley": drift.PageHinkley,
    "drift.KSWIN": drift.KSWIN,
    "drift.binary.DDM": binary.DDM,
    "drift.binary.EDDM": binary.EDDM,
    "drift.binary.HDDMA": binary.HDDMA,
    "drift.binary.HDDMW": binary.HDDMW,
    "drift.binary.FHDDM": binary.FHDDM,
}
# River's Rust helpers a whitelisted detector may hold, restored from their own state
# bytes (their __getstate__/__setstate__).
_RUST = frozenset({"river._river_rust.drift.AdaptiveWindowing",
                   "river._river_rust.stats.RsEWMean"})
# Nested River objects a whitelisted detector holds (restored attribute by attribute).
_NESTED: dict[str, type] = {
    "river.stats.mean.Mean": stats.Mean,
    "river.stats.var.Var": stats.Var,
    "river.stats.ewmean.EWMean": stats.EWMean,
    "river.drift.binary.hddm_w.SampleInfo": hddm_w.SampleInfo,
}
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


def river_name(path: str) -> str:
    """The canonical path of a River detector, or ValueError naming the allowed ones.

    >>> river_name("drift.KSWIN"), river_name("river.drift.binary.DDM")
    ('drift.KSWIN', 'drift.binary.DDM')
    """
    key = path.removeprefix("river.")
    if key not in RIVER_CLASSES:
        allowed = ", ".join(RIVER_CLASSES)
        raise ValueError(f"River detector {path!r} is not supported; use one of: {allowed}")
    return key


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
            raise ValueError(f"River detector {path} rejects params {dict(self.params)}: "
                             f"{exc}") from None
        if self.calibrate:
            cal = CALIBRATION.get(path)
            if cal is None:
                raise ValueError(f"calibrate: true is available for {', '.join(CALIBRATION)}, "
                                 f"not {path}")
            if cal.param in dict(self.params):
                raise ValueError(f"{path}: with calibrate: true streamproc chooses "
                                 f"{cal.param}; remove it from params")

    def applies_to(self, signal: str, feature: str | None) -> bool:
        if signal not in self.signals:
            return False
        return self.features is None or (feature or "") in self.features


# -- safe state ---------------------------------------------------------------------------
def _qualname(obj: Any) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__name__}"


def _dump(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        v = float(value)
        return v if math.isfinite(v) else {"float": repr(v)}
    if isinstance(value, list | tuple):
        return {"list": [_dump(v) for v in value]}
    if isinstance(value, collections.deque):
        return {"deque": [_dump(v) for v in value], "maxlen": value.maxlen}
    if isinstance(value, dict):
        return {"dict": [[_dump(k), _dump(v)] for k, v in value.items()]}
    if isinstance(value, random.Random):
        version, internal, gauss = value.getstate()
        return {"random": [version, list(internal), gauss]}
    name = _qualname(value)
    if name in _RUST:
        return {"rust": base64.b64encode(value.__getstate__()).decode("ascii"), "class": name}
    if name in _NESTED:
        return {"object": name, "attrs": {k: _dump(v) for k, v in vars(value).items()}}
    raise TypeError(f"cannot save a {name} in River detector state")


def _load(data: Any, like: Any, where: str) -> Any:
    """Rebuild a value saved by :func:`_dump`, shaped like ``like`` (a fresh value)."""
    if not isinstance(data, dict):
        if isinstance(like, bool) or isinstance(data, bool):
            if not isinstance(data, bool):
                raise ValueError(f"{where}: expected a boolean")
            return data
        numeric = (int, float, np.integer, np.floating)
        if isinstance(like, numeric) and isinstance(data, int | float):
            # River starts some statistics as ints (-1, 0) that become floats.
            return data
        if like is None or isinstance(data, type(like)):
            return data
        raise ValueError(f"{where}: expected {type(like).__name__}, got {type(data).__name__}")
    if "float" in data:
        return float(data["float"])
    if "list" in data:
        items = [_load(v, None, where) for v in data["list"]]
        return tuple(items) if isinstance(like, tuple) else items
    if "deque" in data:
        return collections.deque((_load(v, None, where) for v in data["deque"]),
                                 maxlen=data["maxlen"])
    if "dict" in data:
        return {_load(k, None, where): _load(v, None, where) for k, v in data["dict"]}
    if "random" in data:
        version, internal, gauss = data["random"]
        rng = random.Random()
        rng.setstate((int(version), tuple(int(v) for v in internal), gauss))
        return rng
    if "rust" in data:
        if like is None or _qualname(like) not in _RUST or _qualname(like) != data.get("class"):
            raise ValueError(f"{where}: unexpected Rust state")
        restore_river_state(like, base64.b64decode(data["rust"], validate=True), where)
        return like
    if "object" in data:
        cls = _NESTED.get(data["object"])
        if cls is None:
            raise ValueError(f"{where}: class {data['object']!r} is not allowed in state")
        obj = cls.__new__(cls)
        template = vars(like) if like is not None and type(like) is cls else {}
        for k, v in data["attrs"].items():
            obj.__dict__[str(k)] = _load(v, template.get(k), f"{where}.{k}")
        return obj
    raise ValueError(f"{where}: unreadable state value")


def save_river(det: Any) -> dict[str, Any]:
    return {k: _dump(v) for k, v in vars(det).items() if not callable(v)}


def river_params(path: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with ``seed=0`` added for River detectors that draw random numbers
    (KSWIN samples its reference): results must not depend on the process."""
    import inspect

    cls = RIVER_CLASSES[river_name(path)]
    if "seed" in inspect.signature(cls.__init__).parameters and params.get("seed") is None:
        return {**params, "seed": 0}
    return dict(params)


def load_river(path: str, params: dict[str, Any], attrs: dict[str, Any]) -> Any:
    det = RIVER_CLASSES[river_name(path)](**params)
    fresh = vars(det)
    for k, v in attrs.items():
        if k not in fresh or callable(fresh[k]):
            raise ValueError(f"{path} state has an unknown attribute {k!r}")
        setattr(det, k, _load(v, fresh[k], f"{path}.{k}"))
    return det


# -- calibration -------------------------------------------------------------------------
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
        raise ValueError(f"{path}: the replay saw too few false alarms to calibrate "
                         f"{cal.param} ({measured}); set it by hand instead")
    if cal.slope is not None:
        slope = cal.slope(sample, params)
        intercept = float(np.mean([y - slope * g for g, y in points]))
    else:  # the two steps nearest the target: run lengths are not log-linear everywhere
        (g0, y0), (g1, y1) = sorted(points)[-2:]
        slope = (y1 - y0) / (g1 - g0)
        intercept = y1 - slope * g1
    if slope <= 0:
        raise ValueError(f"{path}: run length does not grow with {cal.param} on this "
                         f"reference ({measured}); set it by hand instead")
    goal = math.log(max(target_updates - warmup, 1.0))
    value = _g_inverse((goal - intercept) / slope, cal.scale)
    return value, {"replays": measured, "warmup": warmup, "slope": float(slope),
                   "intercept": float(intercept)}


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
                raise ValueError("the reference gave nothing to replay")
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
            raise ValueError(f"state of {path} given to {cls.name}")
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
