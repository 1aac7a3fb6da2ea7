"""The registry of detectors: names to classes, the budget split's defaults, building."""


from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from ..errors import InvalidSetting
from .contract import Detector, FitContext

__all__ = ["DEFAULTS", "REGISTRY", "algorithms_stamp", "build", "detector_class", "register"]

REGISTRY: dict[str, type[Detector]] = {}

D = TypeVar("D", bound=type[Detector])


def register(cls: D) -> D:
    """Class decorator: make a detector known by its ``name``."""
    name = cls.name
    if name in REGISTRY and REGISTRY[name] is not cls:
        raise InvalidSetting(f"detector name {name!r} is registered twice")
    REGISTRY[name] = cls
    return cls


def detector_class(name: str) -> type[Detector]:
    """The registered detector class of ``name``; ValueError naming the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise InvalidSetting(f"unknown detector {name!r}; known detectors: {known}") from None


def algorithms_stamp() -> dict[str, int]:
    """Version of every registered detector's state and arithmetic (for snapshots)."""
    return {name: cls.version for name, cls in sorted(REGISTRY.items())}


def build(names: Sequence[str], ctx: FitContext, specs: Iterable[Any] = ()) -> list[Detector]:
    """Fit and calibrate the named detectors and the configured River ``specs``.

    Detectors that have nothing to test on this reference (their ``fit`` returns
    None, e.g. unseen categories on a high-cardinality feature) are left out.
    """
    from .river.adapter import RiverDetector

    out = [d for d in (REGISTRY[name].fit(ctx) for name in names) if d is not None]
    out += [RiverDetector.fit_spec(spec, replace(ctx)) for spec in specs]
    for det in out:
        det.calibrate(ctx.arl_events)
    return out


# The default detectors of each monitor kind, in report priority.
DEFAULTS: dict[str, tuple[str, ...]] = {
    "numeric": ("cusum", "adwin", "spread", "out_of_range"),
    "categorical": ("categorical", "unseen_categories"),
}
