"""Where monitors that have no state yet start reading: the default engine's rule.

A partition without a snapshot starts at the consumer group's committed offset, or,
where the group committed nothing, where the app's ``auto_offset_reset`` says
(``earliest``: the first retained offset). A snapshot that never absorbed an event of
some topic started that topic at its beginning.

Offsets are read with librdkafka: ``committed()`` asks the group coordinator without
joining the group, so the Faust app's membership is not disturbed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from confluent_kafka import KafkaException, TopicPartition

from ..errors import BrokerError
from ..kafka.common import base_config, new_consumer

__all__ = ["GroupStarts"]


class GroupStarts:
    """Start offsets of a consumer group's partitions (one short-lived reader)."""

    def __init__(self, bootstrap: str, group: str, auto_offset_reset: str = "earliest",
                 kafka: Mapping[str, str] | None = None) -> None:
        self.auto_offset_reset = auto_offset_reset
        # Only committed() and watermarks are used: nothing is subscribed or committed.
        config = base_config(bootstrap, f"streamproc-starts-{group}", kafka,
                             {"group.id": group, "enable.auto.commit": False})
        self._reader = new_consumer(config)

    def group_start(
        self, partitions: Iterable[tuple[str, int]], timeout: float = 15.0
    ) -> dict[tuple[str, int], int]:
        """The committed offset of each (topic, partition), else the reset position."""
        tps = [TopicPartition(t, p) for t, p in partitions]
        try:
            committed = self._reader.committed(tps, timeout=timeout)
        except KafkaException as exc:
            raise BrokerError(f"cannot read committed offsets: {exc.args[0].str()}") from None
        out: dict[tuple[str, int], int] = {}
        for tp in committed:
            if tp.offset >= 0:
                out[(tp.topic, tp.partition)] = tp.offset
            else:
                low, high = self._watermarks(tp, timeout)
                out[(tp.topic, tp.partition)] = high if self.auto_offset_reset == "latest" else low
        return out

    def beginning(
        self, partitions: Iterable[tuple[str, int]], timeout: float = 15.0
    ) -> dict[tuple[str, int], int]:
        """The first retained offset of each (topic, partition)."""
        return {
            (t, p): self._watermarks(TopicPartition(t, p), timeout)[0] for t, p in partitions
        }

    def _watermarks(self, tp: TopicPartition, timeout: float) -> tuple[int, int]:
        try:
            low, high = self._reader.get_watermark_offsets(tp, timeout=timeout)
        except KafkaException as exc:
            raise BrokerError(
                f"cannot read the offsets of {tp.topic} partition {tp.partition}: "
                f"{exc.args[0].str()}"
            ) from None
        return int(low), int(high)

    def close(self) -> None:
        self._reader.close()
