"""Read and write monitor snapshots on the compacted state topic.

Partition ``p`` of the state topic holds the snapshots of input partition ``p``,
keyed ``<group_id>/<p>``. The loader reads the last few records and takes the one
that includes the most events (largest absorbed offsets), not merely the last one:
a worker that lost its partitions while stalled and writes a late, older snapshot
cannot make its successor lose events.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from ..config import Settings
from ..core import snapshot
from ..errors import BrokerError, SnapshotError
from .common import consumer_config, new_consumer

__all__ = ["StateStore"]

_log = logging.getLogger("streamproc.state")

# Records inspected per step when looking for a partition's best snapshot.
_WINDOW = 8


class StateStore:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = settings.state_topic
        self.key = settings.state_key_bytes()
        config = consumer_config(
            settings.broker, f"streamproc-state-{settings.group_id}",
            settings.kafka_properties(),
            {
                # Only assign() is used: no group is joined and nothing is committed.
                "group.id": f"{settings.group_id}.state-reader",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "fetch.max.bytes": 128 * 1024 * 1024,
                "max.partition.fetch.bytes": 128 * 1024 * 1024,
            },
        )
        self._reader = new_consumer(config)

    def record_key(self, partition: int) -> bytes:
        return f"{self.settings.group_id}/{partition}".encode()

    def encode(self, state: dict[str, Any]) -> bytes:
        return snapshot.encode(state, self.key)

    def decode(self, blob: bytes) -> dict[str, Any]:
        return snapshot.decode(blob, self.key)["state"]

    def load(self, partition: int, timeout: float = 30.0) -> dict[str, Any] | None:
        """The best snapshot of ``partition``'s state, or None if there is none.

        Raises SnapshotError if the best record cannot be trusted or read.
        """
        tp = TopicPartition(self.topic, partition)
        try:
            low, high = self._reader.get_watermark_offsets(tp, timeout=timeout)
        except KafkaException as exc:
            raise BrokerError(
                f"cannot read state topic {self.topic}: {exc.args[0].str()}"
            ) from None
        wanted = self.record_key(partition)
        deadline = time.monotonic() + timeout
        end = high
        step = _WINDOW
        while end > low:
            start = max(low, end - step)
            best = self._best_in(partition, start, wanted, deadline)
            if best is not None:
                payload = snapshot.decode(best, self.key)
                state = payload["state"]
                if int(state.get("partition", -1)) != partition:
                    raise SnapshotError(
                        f"state record for partition {partition} holds partition "
                        f"{state.get('partition')!r}; {snapshot.REBUILD_HINT}"
                    )
                return state
            end = start
            step *= 4
        return None

    def _best_in(
        self, partition: int, start: int, wanted: bytes, deadline: float
    ) -> bytes | None:
        self._reader.assign([TopicPartition(self.topic, partition, start)])
        best: tuple[int, int] | None = None
        blob: bytes | None = None
        # Read to the end of the log, not to `end`: Tansu's high watermark can lag the
        # last produced record, and the newest snapshot is the one that matters most.
        eof = False
        while not eof:
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"timed out reading state topic {self.topic} partition {partition}"
                )
            for msg in self._reader.consume(500, 1.0):
                if msg.error():
                    eof = eof or msg.error().code() == KafkaError._PARTITION_EOF
                    continue
                if msg.key() != wanted or not msg.value():
                    continue
                included = self._included(msg.headers())
                rank = (included, msg.offset())
                if best is None or rank > best:
                    best, blob = rank, msg.value()
        self._reader.unassign()
        return blob

    @staticmethod
    def _included(headers: list[tuple[str, bytes]] | None) -> int:
        for name, value in headers or []:
            if name == "streamproc.offsets":
                try:
                    offsets = orjson.loads(value)
                    return int(sum(int(v) + 1 for v in offsets.values()))
                except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError):
                    return -1
        return -1

    def close(self) -> None:
        self._reader.close()
