"""Save a River detector's attributes as JSON and read them back through a whitelist
(the rules are in :mod:`.adapter`'s docstring)."""

from __future__ import annotations

import base64
import collections
import math
import random
from typing import Any

import numpy as np
from river import stats
from river.drift.binary import hddm_w

from ...errors import DetectorMisuse, InvalidState
from ..adwin import restore_river_state
from .classes import RIVER_CLASSES, river_name

__all__ = ["load_river", "river_params", "save_river"]

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
    raise DetectorMisuse(f"cannot save a {name} in River detector state")


def _load(data: Any, like: Any, where: str) -> Any:
    """Rebuild a value saved by :func:`_dump`, shaped like ``like`` (a fresh value)."""
    if not isinstance(data, dict):
        if isinstance(like, bool) or isinstance(data, bool):
            if not isinstance(data, bool):
                raise InvalidState(f"{where}: expected a boolean")
            return data
        numeric = (int, float, np.integer, np.floating)
        if isinstance(like, numeric) and isinstance(data, int | float):
            # River starts some statistics as ints (-1, 0) that become floats.
            return data
        if like is None or isinstance(data, type(like)):
            return data
        raise InvalidState(f"{where}: expected {type(like).__name__}, got {type(data).__name__}")
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
            raise InvalidState(f"{where}: unexpected Rust state")
        restore_river_state(like, base64.b64decode(data["rust"], validate=True), where)
        return like
    if "object" in data:
        cls = _NESTED.get(data["object"])
        if cls is None:
            raise InvalidState(f"{where}: class {data['object']!r} is not allowed in state")
        obj = cls.__new__(cls)
        template = vars(like) if like is not None and type(like) is cls else {}
        for k, v in data["attrs"].items():
            obj.__dict__[str(k)] = _load(v, template.get(k), f"{where}.{k}")
        return obj
    raise InvalidState(f"{where}: unreadable state value")


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
            raise InvalidState(f"{path} state has an unknown attribute {k!r}")
        setattr(det, k, _load(v, fresh[k], f"{path}.{k}"))
    return det
