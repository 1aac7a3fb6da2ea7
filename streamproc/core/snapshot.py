"""State snapshots as data only: reading one back can never run code.

A snapshot is ``MAGIC | format | flags | [HMAC-SHA256] | zlib(JSON)``. JSON carries
numbers, strings, lists and objects, nothing executable (unlike pickle), and the
monitors rebuild themselves from it field by field. With a state key configured,
snapshots are signed and an unsigned or mis-signed one is refused, so a writer of
the state topic cannot forge monitor state either.

``format`` changes when the layout of the state changes; ``algorithms`` stamps the
version of the monitors' and of every registered detector's state and arithmetic
(:func:`~streamproc.core.detectors.algorithms_stamp`) and River's version (its
detectors' state bytes follow its layout). A snapshot from an unknown format or
other algorithms is refused with a :class:`~streamproc.errors.SnapshotError`
that says how to rebuild state (``streamproc worker --reset-state``).
"""

from __future__ import annotations

import hashlib
import hmac
import zlib
from typing import Any

import orjson
import river

from .. import __version__
from ..errors import SnapshotError
from .detectors import algorithms_stamp

__all__ = ["ALGORITHMS", "FORMAT_VERSION", "MONITORS_VERSION", "decode", "encode"]

MAGIC = b"SPSNAP"
FORMAT_VERSION = 1
# Bump when a monitor's own state fields or arithmetic change (references, pipelines,
# alert policy); detectors carry their own versions in the registry.
MONITORS_VERSION = 3
ALGORITHMS: dict[str, Any] = {"monitors": MONITORS_VERSION, **algorithms_stamp(),
                              "river": river.__version__}
_SIGNED = 1
_DIGEST = 32
# Refuse to inflate beyond this: a corrupt or hostile record cannot exhaust memory.
MAX_STATE_BYTES = 1 << 30
REBUILD_HINT = (
    "restart the worker with --reset-state to rebuild state from the input topics "
    "(monitors re-learn their references)"
)


def encode(state: dict[str, Any], key: bytes | None = None, level: int = 1) -> bytes:
    """Serialise ``state`` (plain data) into a snapshot, signed when ``key`` is given.

    >>> blob = encode({"x": [1, 2.5]}, key=b"k")
    >>> decode(blob, key=b"k")["state"]
    {'x': [1, 2.5]}
    """
    payload = {
        "format": FORMAT_VERSION,
        "algorithms": ALGORITHMS,
        "streamproc": __version__,
        "state": state,
    }
    body = zlib.compress(orjson.dumps(payload), level)
    if key:
        tag = hmac.new(key, body, hashlib.sha256).digest()
        return MAGIC + bytes([FORMAT_VERSION, _SIGNED]) + tag + body
    return MAGIC + bytes([FORMAT_VERSION, 0]) + body


def decode(blob: bytes, key: bytes | None = None) -> dict[str, Any]:
    """Verify and parse a snapshot; raise SnapshotError with the fix if it is unusable.

    >>> try:
    ...     decode(b"garbage")
    ... except SnapshotError as exc:
    ...     print(str(exc)[:59])
    state record is not a streamproc snapshot (bad magic bytes)
    """
    head = len(MAGIC) + 2
    if len(blob) < head or not blob.startswith(MAGIC):
        raise SnapshotError(
            f"state record is not a streamproc snapshot (bad magic bytes); {REBUILD_HINT}"
        )
    fmt, flags = blob[len(MAGIC)], blob[len(MAGIC) + 1]
    if fmt != FORMAT_VERSION:
        raise SnapshotError(
            f"state snapshot has format {fmt}, this streamproc {__version__} reads format "
            f"{FORMAT_VERSION}; run the streamproc version that wrote it, or {REBUILD_HINT}"
        )
    signed = bool(flags & _SIGNED)
    if signed:
        tag, body = blob[head : head + _DIGEST], blob[head + _DIGEST :]
        if not key:
            raise SnapshotError(
                "state snapshot is signed but no state key is configured; set "
                "STREAMPROC_STATE_KEY to the key the writers use"
            )
        if not hmac.compare_digest(tag, hmac.new(key, body, hashlib.sha256).digest()):
            raise SnapshotError(
                "state snapshot signature does not match the configured state key: it was "
                f"written with another key or altered; fix STREAMPROC_STATE_KEY or {REBUILD_HINT}"
            )
    else:
        body = blob[head:]
        if key:
            raise SnapshotError(
                "state snapshot is unsigned but a state key is configured, so it is refused; "
                f"{REBUILD_HINT}"
            )
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(body, MAX_STATE_BYTES)
        if inflater.unconsumed_tail:
            raise SnapshotError(
                f"state snapshot inflates beyond {MAX_STATE_BYTES} bytes; {REBUILD_HINT}"
            )
        payload = orjson.loads(raw)
    except (zlib.error, orjson.JSONDecodeError) as exc:
        raise SnapshotError(f"state snapshot is corrupt ({exc}); {REBUILD_HINT}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("state"), dict):
        raise SnapshotError(f"state snapshot has no state object; {REBUILD_HINT}")
    written = payload.get("algorithms")
    if written != ALGORITHMS:
        if isinstance(written, dict):
            changed = sorted(k for k in {*written, *ALGORITHMS}
                             if written.get(k) != ALGORITHMS.get(k))
            what = "other versions of " + ", ".join(changed)
        else:
            what = f"algorithms version {written!r}"
        raise SnapshotError(
            f"state snapshot was written with {what} (streamproc "
            f"{payload.get('streamproc')}) than this streamproc {__version__}; {REBUILD_HINT}"
        )
    return payload
