"""The River drift detectors streamproc may build, by their path under ``river``."""

from __future__ import annotations

from river import drift
from river.drift import binary

from ...errors import InvalidSetting

__all__ = ["RIVER_CLASSES", "river_name"]

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


def river_name(path: str) -> str:
    """The canonical path of a River detector, or ValueError naming the allowed ones.

    >>> river_name("drift.KSWIN"), river_name("river.drift.binary.DDM")
    ('drift.KSWIN', 'drift.binary.DDM')
    """
    key = path.removeprefix("river.")
    if key not in RIVER_CLASSES:
        allowed = ", ".join(RIVER_CLASSES)
        raise InvalidSetting(f"River detector {path!r} is not supported; use one of: {allowed}")
    return key
