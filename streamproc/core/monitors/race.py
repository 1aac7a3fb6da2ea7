"""How a monitor runs its detectors over one segment: the earliest alarm wins."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..detectors import Detector

__all__ = ["race"]


def race(
    groups: Sequence[tuple[Sequence[Detector], Any]], n_events: int
) -> tuple[int, list[Detector]] | None:
    """Run a monitor's detectors over one segment; the earliest alarm wins.

    ``groups`` pairs detectors with the input they read; ``inp.ends[i]`` is the
    segment index of the event that completes item i of an input. Vector detectors
    scan first, each bounded by the earliest alarm so far; sequential detectors
    (one group at most) then step in lockstep up to that bound. Returns
    ``(event index, detectors that alarmed there)`` or None; either way every
    detector has consumed exactly the items completed by that event (or all).
    """
    limit = n_events  # exclusive bound on the winning event index
    winner: int | None = None
    for dets, inp in groups:
        items = int(np.searchsorted(inp.ends, limit, side="left"))
        for det in dets:
            if det.sequential:
                continue
            j = det.scan(inp, items)  # type: ignore[attr-defined]
            if j >= 0 and inp.ends[j] < limit:
                # An alarm on the segment's last event leaves limit == n_events: the
                # winner is recorded here, not inferred from limit.
                limit = int(inp.ends[j]) + 1
                winner = limit - 1
                items = j + 1
    for dets, inp in groups:
        seq = [d for d in dets if d.sequential]
        if not seq:
            continue
        items = int(np.searchsorted(inp.ends, limit, side="left"))
        if len(seq) == 1:  # the usual case: one loop inside the detector
            k = seq[0].run(inp, items)  # type: ignore[attr-defined]
            if k >= 0:
                winner = int(inp.ends[k])
            continue
        for k in range(items):
            fired = False
            for det in seq:
                fired |= det.step(inp, k)  # type: ignore[attr-defined]
            if fired:
                winner = int(inp.ends[k])
                break
    for dets, inp in groups:
        consumed = inp.n if winner is None else int(
            np.searchsorted(inp.ends, winner, side="right"))
        for det in dets:
            if not det.sequential:
                det.advance(inp, consumed)  # type: ignore[attr-defined]
    if winner is None:
        return None
    return winner, [d for dets, _ in groups for d in dets if d.drift_detected]

