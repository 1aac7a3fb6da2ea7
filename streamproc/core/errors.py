"""The detection core's errors: every one is a :class:`~streamproc.errors.StreamprocError`.

The core raises these instead of bare ``ValueError``/``RuntimeError``, so that callers
(the worker's restore path, the CLI) catch streamproc's own errors and nothing else.
Each also derives from the built-in it replaces, so code written against the built-in
keeps working.
"""

from __future__ import annotations

from ..errors import SnapshotError, StreamprocError

__all__ = ["CoreError", "DetectorMisuse", "InvalidSetting", "InvalidState"]


class CoreError(StreamprocError):
    """An error raised by the detection core."""


class InvalidSetting(CoreError, ValueError):
    """A monitor, detector or budget parameter outside its range (names it and the range)."""


class InvalidState(CoreError, SnapshotError, ValueError):
    """Monitor state that cannot be restored: corrupt, inconsistent or of another layout."""


class DetectorMisuse(CoreError, RuntimeError):
    """A detector driven against its contract (a bug of the caller, never of the data)."""
