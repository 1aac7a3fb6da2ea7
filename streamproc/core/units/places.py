"""Which models a partition holds: a bounded number of places, freed by idleness.

A producer bug that sends one event from each of 200,000 model ids must not grow a
worker without bound. A partition's unit therefore holds at most ``capacity`` models
that are not listed in the configuration (their monitors, versions and label join);
an event of a further model is *refused* (the engine dead-letters it with reason
``too_many_models``), never dropped silently. Listed models always have a place: they
are not counted and never evicted.

A model that sent nothing for ``idle_seconds`` of the partition's **event time** (the
latest event timestamp of the valid events the unit was given, of any input topic, the
refused ones included: otherwise a partition whose places all went to a producer bug's
model ids, which never send again, would refuse every new model for ever) is evicted: its state
leaves the unit, so the next snapshot no longer holds it, and if it comes back it
starts from nothing (a new reference). Event time rather than wall time: a replay after
a crash sees the same timestamps, so it evicts the same models at the same events and
the restored state ends equal to an uninterrupted run's; wall time would evict
according to how long the worker happened to be down.

The decisions are those of absorbing the events one at a time, in offset order: before
each event, models idle by then are evicted; an event of a model without a place takes
one if there is one. So they do not depend on how events are cut into batches. Batches
are absorbed in *segments* within which no eviction falls due (one segment per batch
unless an eviction falls inside it), each absorbed whole.

Across the input topics of a partition, the clock is shared, so a decision can depend
on how far one topic was read ahead of another only for a model whose silence is within
that lead of ``idle_seconds``, or for two new models competing for the last place from
different topics: the worker reads a partition's topics together, within a poll of
each other, so such ties are rare; the README says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .rows import group_rows

__all__ = ["ModelPlaces", "Segment"]


@dataclass
class Segment:
    """Rows ``start``..``stop`` (exclusive) of a batch, absorbed together, after the
    models in ``evict`` are dropped; ``refused``: its rows whose model has no place."""

    start: int
    stop: int
    evict: list[str] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)


class ModelPlaces:
    """The places of one partition's models, and the partition's event-time clock.

    Examples
    --------
    Two places; a third model is refused until the first is idle for 60 s:

    >>> places = ModelPlaces(capacity=2, idle_seconds=60.0)
    >>> [(s.evict, s.refused) for s in places.plan(["a", "b", "c"], np.array([0., 1, 2]))]
    [([], [2])]
    >>> [(s.start, s.evict, s.refused) for s in places.plan(["b", "c"], np.array([61., 62]))]
    [(0, [], []), (1, ['a'], [])]
    >>> places.held()
    ['b', 'c']
    """

    def __init__(self, capacity: int | None = None, idle_seconds: float = 0.0,
                 listed: frozenset[str] = frozenset()) -> None:
        self.capacity = capacity  # places for unlisted models (None: unbounded)
        self.idle = float(idle_seconds)  # 0: models are never evicted for idleness
        self.listed = listed
        self.clock = -math.inf  # latest event time absorbed
        # Unlisted model -> its latest event time, in order of taking a place.
        self.last: dict[str, float] = {}
        # A lower bound of min(self.last.values()) (inf: no model), so that a batch in
        # which no model can fall idle costs no scan of the places.
        self._floor = math.inf
        self._unknown: list[str] = []  # held models whose last event time is not known

    def held(self) -> list[str]:
        """Unlisted models that hold a place, in order of taking it."""
        return list(self.last)

    # -- planning --------------------------------------------------------------------------
    def plan(self, model_ids: list[str], ts: np.ndarray) -> list[Segment]:
        """The segments of a batch (its model ids and event times, in offset order),
        and the places taken and freed on the way (this object is updated)."""
        n = len(model_ids)
        segments: list[Segment] = []
        start = 0
        while start < n:
            evict = self._due()
            stop = self._stop(start, ts)
            segment = Segment(start, stop, evict)
            self._admit(model_ids, ts, segment)
            segments.append(segment)
            start = stop
            if self._unknown and self.clock > -math.inf:
                for m in self._unknown:
                    if self.last.get(m) == math.inf:
                        self.last[m] = self.clock
                self._unknown = []
                self._floor = min(self.last.values(), default=math.inf)
        return segments

    def _due(self) -> list[str]:
        """Evict (and return) the models idle at the clock: silent for more than idle."""
        if not self.idle or not self.last:
            return []
        horizon = self.clock - self.idle
        if self._floor >= horizon:
            return []
        gone = [m for m, t in self.last.items() if t < horizon]
        for m in gone:
            del self.last[m]
        self._floor = min(self.last.values(), default=math.inf)
        return gone

    def _stop(self, start: int, ts: np.ndarray) -> int:
        """End of the segment from ``start``: the first later row before which some model
        could be idle (conservatively: events of refused models count too)."""
        if not self.idle or start + 1 >= len(ts):
            return len(ts)
        rest = ts[start:]
        clock = np.maximum(np.maximum.accumulate(rest[:-1]), self.clock)
        floor = np.minimum(np.minimum.accumulate(rest[:-1]), self._floor)
        late = np.flatnonzero(clock - self.idle > floor)
        return start + 1 + int(late[0]) if len(late) else len(ts)

    def _admit(self, model_ids: list[str], ts: np.ndarray, segment: Segment) -> None:
        lo, hi = segment.start, segment.stop
        ids = model_ids[lo:hi]
        seg_ts = ts[lo:hi]
        groups = group_rows(ids)
        latest = self.clock
        for model_id, rows in groups.items():
            newest = float(seg_ts[rows].max())
            latest = max(latest, newest)  # refused events move the clock too (see above)
            if model_id in self.listed:
                continue
            seen = self.last.get(model_id)
            if seen is None:
                if self.capacity is not None and len(self.last) >= self.capacity:
                    segment.refused += (rows + lo).tolist()
                    continue
                self._floor = min(self._floor, float(seg_ts[rows].min()))
                self.last[model_id] = newest
            elif newest > seen or seen == math.inf:
                self.last[model_id] = newest
        segment.refused.sort()
        self.clock = latest

    # -- state ------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {"clock": None if self.clock == -math.inf else self.clock,
                "last": [[m, t] for m, t in self.last.items()]}

    def load_state(self, state: dict[str, Any] | None, held: list[str]) -> None:
        """Restore from :meth:`to_state`; ``held``: the models the restored unit holds.

        A model held without a known last event (a snapshot from before places existed,
        or a model no longer listed) is taken as last seen at the clock after the first
        segment absorbed: it has a place, and falls idle from there.
        """
        clock = None if state is None else state["clock"]
        self.clock = -math.inf if clock is None else float(clock)
        known = {} if state is None else {str(m): float(t) for m, t in state["last"]}
        self.last = {m: t for m, t in known.items() if m not in self.listed}
        self._unknown = [m for m in dict.fromkeys(held)
                         if m not in self.listed and m not in self.last]
        for m in self._unknown:
            self.last[m] = math.inf  # never idle until the clock is known
        self._floor = min(self.last.values(), default=math.inf)
