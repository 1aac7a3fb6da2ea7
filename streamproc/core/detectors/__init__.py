"""Detectors and their registry: the one place a detector is declared.

Every detector a monitor can run, streamproc's own and River's, is a class
registered here under the name its alerts carry. Names, the number of detectors
per monitor (which splits the false-alarm budget), alert summaries, the
``detector`` values allowed by ``schemas/drift_alert.json`` and the algorithms
stamp of state snapshots all derive from this registry, so adding a detector
touches one file: the detector's own (plus its import below).

Built-in detectors, by the monitor input they read (see :mod:`.base`):

* blocks of a numeric signal: ``cusum`` (mean shift), ``adwin`` (River's ADWIN,
  mean shift with an adaptive window), ``spread`` (variance or shape);
* one flag per event: ``out_of_range``, ``missing_rate``, ``type_mismatch_rate``,
  ``unseen_categories``, ``error_rate`` (Bernoulli CUSUMs);
* blocks of categories: ``categorical`` (shares, chi-square CUSUM).

River detectors configured by name (``river: drift.KSWIN``) are wrapped by
:mod:`.river`; their alerts carry ``river.<path>`` names.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from .base import Detector, FitContext

__all__ = [
    "DEFAULTS",
    "REGISTRY",
    "Detector",
    "FitContext",
    "algorithms_stamp",
    "build",
    "detector_class",
    "register",
]

REGISTRY: dict[str, type[Detector]] = {}

D = TypeVar("D", bound=type[Detector])


def register(cls: D) -> D:
    """Class decorator: make a detector known by its ``name``."""
    name = cls.name
    if name in REGISTRY and REGISTRY[name] is not cls:
        raise ValueError(f"detector name {name!r} is registered twice")
    REGISTRY[name] = cls
    return cls


def detector_class(name: str) -> type[Detector]:
    """The registered detector class of ``name``; ValueError naming the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise ValueError(f"unknown detector {name!r}; known detectors: {known}") from None


def algorithms_stamp() -> dict[str, int]:
    """Version of every registered detector's state and arithmetic (for snapshots)."""
    return {name: cls.version for name, cls in sorted(REGISTRY.items())}


# Importing the modules registers the built-in detectors (order = report priority
# when two detectors of a monitor alarm on the same event).
from . import mean, adwin, spread, rates, shares, river  # noqa: E402, F401, I001



def build(names: Sequence[str], ctx: FitContext, specs: Iterable[Any] = ()) -> list[Detector]:
    """Fit and calibrate the named detectors and the configured River ``specs``.

    Detectors that have nothing to test on this reference (their ``fit`` returns
    None, e.g. unseen categories on a high-cardinality feature) are left out.
    """
    from .river import RiverDetector

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
