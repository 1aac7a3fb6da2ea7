"""Each model's state, kept encoded between checkpoints: only what changed is re-encoded.

A checkpoint writes a partition's whole state (one snapshot record per partition, so a
restore reads one record and is consistent by construction). What costs is not the
writing but turning every model's monitors into data and JSON: with hundreds of models
in a partition, most of them quiet, nearly all of that work gave the same bytes as last
time. So the unit marks a model *touched* whenever an event reaches its monitors or its
label join (:meth:`EncodedModels.touch`, called where the unit looks them up, the one
way in), and a checkpoint re-encodes the touched models only; the others' JSON is
spliced in as it was (``orjson.Fragment``). The record is the same bytes a full
encoding gives, so crash consistency is exactly as before: the snapshot still says
which offsets it includes, and nothing is read back from the cache after a restore
(a restored or rewound unit starts with an empty one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import orjson

__all__ = ["EncodedModels"]


class _Stateful(Protocol):
    def to_state(self) -> Any: ...


class EncodedModels:
    """Model id -> its versions' and its label join's state as JSON, while untouched.

    >>> class M:
    ...     def __init__(self, x): self.x = x
    ...     def to_state(self): return {"x": self.x}
    >>> cache, models = EncodedModels(), {"a": {"1": M(1)}, "b": {"1": M(2)}}
    >>> states, _ = cache.fragments(models, {})
    >>> orjson.dumps(states)
    b'[{"x":1},{"x":2}]'
    >>> models["a"]["1"].x, models["b"]["1"].x = 5, 6   # only "a" is touched
    >>> cache.touch("a")
    >>> orjson.dumps(cache.fragments(models, {})[0]), cache.encoded
    (b'[{"x":5},{"x":2}]', 1)
    """

    def __init__(self) -> None:
        self._versions: dict[str, list[orjson.Fragment]] = {}
        self._joins: dict[str, orjson.Fragment] = {}
        self._touched: set[str] = set()
        self.encoded = 0  # models (re-)encoded by the last fragments() call

    def touch(self, model_id: str) -> None:
        """The model's state may have changed: encode it again at the next checkpoint."""
        self._touched.add(model_id)

    def fragments(
        self, models: Mapping[str, Mapping[str, _Stateful]], joins: Mapping[str, _Stateful],
    ) -> tuple[list[orjson.Fragment], dict[str, orjson.Fragment]]:
        """The states of ``models`` (every version, in order) and ``joins``, as encoded
        JSON: cached for models untouched since the last call, encoded anew for others.
        Models no longer held leave the cache."""
        touched, self._touched = self._touched, set()
        self.encoded = 0
        versions: dict[str, list[orjson.Fragment]] = {}
        for model_id, by_version in models.items():
            cached = self._versions.get(model_id)
            if cached is None or model_id in touched:
                cached = [orjson.Fragment(orjson.dumps(mm.to_state()))
                          for mm in by_version.values()]
                self.encoded += 1
            versions[model_id] = cached
        encoded_joins: dict[str, orjson.Fragment] = {}
        for model_id, jb in joins.items():
            fragment = self._joins.get(model_id)
            if fragment is None or model_id in touched:
                fragment = orjson.Fragment(orjson.dumps(jb.to_state()))
            encoded_joins[model_id] = fragment
        self._versions, self._joins = versions, encoded_joins
        return [f for fs in versions.values() for f in fs], encoded_joins
