"""Client configuration shared by the worker's consumer, producer and admin client."""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from ..errors import BrokerError

__all__ = ["admin", "base_config", "check_reachable"]

_log = logging.getLogger("streamproc.kafka")


def _on_error(err: KafkaError) -> None:
    # librdkafka retries transient errors itself; log them once each, readable.
    if err.code() in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN):
        _log.warning("broker connection: %s", err.str())
    else:
        _log.error("kafka client error: %s", err.str())


def base_config(bootstrap: str, client_id: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
        "error_cb": _on_error,
        # librdkafka's own log lines at warning and above only, through Python logging.
        "log_level": 4,
        "logger": logging.getLogger("librdkafka"),
    }


def admin(bootstrap: str) -> AdminClient:
    return AdminClient(base_config(bootstrap, "streamproc-admin"))


def check_reachable(bootstrap: str, timeout: float = 15.0) -> AdminClient:
    """An admin client on a broker that answered a metadata request, or BrokerError."""
    client = admin(bootstrap)
    try:
        client.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise BrokerError(
            f"cannot reach a Kafka broker at {bootstrap} within {timeout:.0f}s "
            f"({exc.args[0].str()}); start one with `streamproc broker` or pass --broker HOST:PORT"
        ) from None
    return client
