"""Arrays in snapshots as base64 of their little-endian bytes: exact and compact.

A float64 in JSON text takes ~19 characters (``0.12345678901234568``) and parses
slowly; its 8 bytes in base64 take 10.7. Monitor state keeps its larger arrays
(sketch knots, ADWIN's bucket mirror, reference windows) this way, so a monitored
numeric feature costs a few kilobytes per snapshot.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import numpy as np

from .errors import InvalidState

__all__ = ["pack", "unpack"]


def pack(values: Sequence[float] | Sequence[int] | np.ndarray, dtype: str = "<f8") -> str:
    """Base64 of the values as ``dtype`` (little-endian float64 by default).

    >>> pack([1.5, -2.0]), unpack(pack([1.5, -2.0])).tolist()
    ('AAAAAAAA+D8AAAAAAAAAwA==', [1.5, -2.0])
    """
    return base64.b64encode(np.asarray(values, dtype=dtype).tobytes()).decode("ascii")


def unpack(text: str, dtype: str = "<f8") -> np.ndarray:
    """The array :func:`pack` wrote; ValueError if the text is not such an array."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        raise InvalidState("packed array is not base64") from None
    size = np.dtype(dtype).itemsize
    if len(raw) % size:
        raise InvalidState(f"packed array of {len(raw)} bytes is not a whole number of {dtype}")
    return np.frombuffer(raw, dtype=dtype).astype(np.dtype(dtype).newbyteorder("="))
