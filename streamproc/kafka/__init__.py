"""Kafka adapters around the pure core: topics, outputs, state snapshots, the worker loop.

Everything here speaks librdkafka (confluent-kafka); nothing here decides what
drift is.
"""

from __future__ import annotations

__all__: list[str] = []
