"""Client configuration shared by the worker's consumer, producer and admin client."""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from ..errors import BrokerError

__all__ = ["FETCH_QUEUE_BACKOFF_MS", "admin", "base_config", "check_reachable", "consumer_config"]

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


# librdkafka stops fetching a partition once its local queue holds queued.min.messages
# (100,000) or queued.max.messages.kbytes (64 MB), and fetches it again only after
# fetch.queue.backoff.ms: 1,000 ms by default, though a consumer may drain the queue in a
# fraction of that and then wait in consume() for the rest. On a backlog (a restart, a
# catch-up, the e2e benchmark's pre-produced topic) that cost the worker 0.6-0.75 s stalls
# (benchmarks/e2e.py headline, median of 3: 122k events/s with the default, 156k with 10 ms).
FETCH_QUEUE_BACKOFF_MS = 10


def consumer_config(bootstrap: str, client_id: str) -> dict[str, Any]:
    """:func:`base_config` for a consumer that reads backlogs: no one-second fetch pause."""
    return {**base_config(bootstrap, client_id), "fetch.queue.backoff.ms": FETCH_QUEUE_BACKOFF_MS}


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
