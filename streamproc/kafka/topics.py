"""Create the topics a worker needs, and check the ones that exist can work together."""

from __future__ import annotations

import logging

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from ..config import Settings
from ..errors import BrokerError, ConfigError

__all__ = ["ensure_topics"]

_log = logging.getLogger("streamproc.topics")

# Snapshots of a busy partition can be several MB; the broker default (1 MB) is too small.
STATE_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def _existing(client: AdminClient, timeout: float) -> dict[str, int]:
    try:
        meta = client.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise BrokerError(f"cannot list topics on the broker: {exc.args[0].str()}") from None
    return {name: len(t.partitions) for name, t in meta.topics.items() if not t.error}


def ensure_topics(client: AdminClient, settings: Settings, timeout: float = 15.0) -> int:
    """Create missing topics; return the input topics' common partition count.

    Input topics must share a partition count: all events of a model land in the
    same partition number of each, and that partition number is the unit of state.
    """
    wanted = {
        settings.features_topic: {},
        settings.predictions_topic: {},
        settings.labels_topic: {},
        settings.alerts_topic: {},
        settings.dead_letter_topic: {},
        settings.state_topic: {
            "cleanup.policy": "compact",
            "max.message.bytes": str(STATE_MAX_MESSAGE_BYTES),
        },
    }
    existing = _existing(client, timeout)
    inputs = list(settings.input_topics().values())
    counts = {t: existing[t] for t in inputs if t in existing}
    partitions = max(counts.values(), default=settings.partitions)
    missing = [
        NewTopic(
            name,
            num_partitions=partitions if name in inputs or name == settings.state_topic
            else settings.partitions,
            replication_factor=settings.replication_factor,
            config=config,
        )
        for name, config in wanted.items()
        if name not in existing
    ]
    if missing:
        futures = client.create_topics(missing, operation_timeout=timeout, request_timeout=timeout)
        for name, future in futures.items():
            try:
                future.result()
                _log.info("created topic %s", name)
            except KafkaException as exc:
                text = str(exc)
                if "already exists" not in text.lower() and "TOPIC_ALREADY_EXISTS" not in text:
                    raise BrokerError(f"cannot create topic {name}: {exc.args[0].str()}") from None
        existing = _existing(client, timeout)
    counts = {t: existing.get(t, 0) for t in inputs}
    if len(set(counts.values())) != 1:
        listing = ", ".join(f"{t} has {n}" for t, n in counts.items())
        raise ConfigError(
            f"input topics must have the same number of partitions ({listing}) so that all "
            "events of a model land in the same partition number; add partitions to match"
        )
    partitions = counts[inputs[0]]
    state_partitions = existing.get(settings.state_topic, 0)
    if state_partitions < partitions:
        raise ConfigError(
            f"state topic {settings.state_topic} has {state_partitions} partitions but the input "
            f"topics have {partitions}; it needs at least as many (add partitions to it)"
        )
    return partitions
