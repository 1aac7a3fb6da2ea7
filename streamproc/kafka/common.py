"""Client configuration shared by every librdkafka client streamproc creates.

Each client's configuration is layered: streamproc's defaults, then what its role
needs, then the user's ``kafka`` properties (streamproc.kafka.properties refuses
the ones a role relies on, so the last layer only adds security and tuning).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from ..errors import BrokerError
from .diagnose import ConnectionWatch, failure_sentence
from .properties import redact, refusal

__all__ = [
    "FETCH_QUEUE_BACKOFF_MS", "admin", "base_config", "check_reachable", "consumer_config",
    "new_consumer", "new_producer",
]

_log = logging.getLogger("streamproc.kafka")

# How long one metadata request of the start-up check may take before the check
# looks at what the connection attempts reported (a TLS or SASL failure ends it).
CHECK_STEP_SECONDS = 0.5


def _on_error(err: KafkaError) -> None:
    # librdkafka retries transient errors itself; log them once each, readable.
    if err.code() in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN):
        _log.warning("broker connection: %s", err.str())
    else:
        _log.error("kafka client error: %s", err.str())


def base_config(bootstrap: str, client_id: str, kafka: Mapping[str, str] | None = None,
                role: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """streamproc's defaults, the ``role``'s properties, then the user's ``kafka`` ones."""
    return {
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
        "error_cb": _on_error,
        # librdkafka's own log lines at warning and above only, through Python logging.
        "log_level": 4,
        "logger": logging.getLogger("librdkafka"),
        **(role or {}),
        **(kafka or {}),
    }


# librdkafka stops fetching a partition once its local queue holds queued.min.messages
# (100,000) or queued.max.messages.kbytes (64 MB), and fetches it again only after
# fetch.queue.backoff.ms: 1,000 ms by default, though a consumer may drain the queue in a
# fraction of that and then wait in consume() for the rest. On a backlog (a restart, a
# catch-up, the e2e benchmark's pre-produced topic) that cost the worker 0.6-0.75 s stalls
# (benchmarks/e2e.py headline, median of 3: 122k events/s with the default, 156k with 10 ms).
FETCH_QUEUE_BACKOFF_MS = 10


def consumer_config(bootstrap: str, client_id: str, kafka: Mapping[str, str] | None = None,
                    role: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """:func:`base_config` for a consumer that reads backlogs: no one-second fetch pause."""
    return base_config(bootstrap, client_id, kafka,
                       {"fetch.queue.backoff.ms": FETCH_QUEUE_BACKOFF_MS, **(role or {})})


def new_consumer(config: dict[str, Any]) -> Consumer:
    """A Consumer, or ConfigError naming the property librdkafka refused."""
    try:
        return Consumer(config)
    except KafkaException as exc:
        raise refusal(exc, config, "consumer") from None


def new_producer(config: dict[str, Any]) -> Producer:
    """A Producer, or ConfigError naming the property librdkafka refused."""
    try:
        return Producer(config)
    except KafkaException as exc:
        raise refusal(exc, config, "producer") from None


def admin(bootstrap: str, kafka: Mapping[str, str] | None = None) -> AdminClient:
    try:
        return AdminClient(base_config(bootstrap, "streamproc-admin", kafka))
    except KafkaException as exc:
        raise refusal(exc, kafka, "admin client") from None


def check_reachable(bootstrap: str, timeout: float = 15.0,
                    kafka: Mapping[str, str] | None = None) -> AdminClient:
    """An admin client on a broker that answered a metadata request, or BrokerError.

    A TLS or SASL failure ends the wait early, with what to fix (streamproc.kafka.diagnose);
    until the broker answers, the connection attempts' errors are not logged.
    """
    watch = ConnectionWatch(_on_error)
    config = {**base_config(bootstrap, "streamproc-admin", kafka),
              "error_cb": watch, "logger": watch}
    try:
        client = AdminClient(config)
    except KafkaException as exc:
        raise refusal(exc, kafka, "admin client") from None
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.list_topics(timeout=max(min(CHECK_STEP_SECONDS, deadline - time.monotonic()),
                                           0.01))
            break
        except KafkaException as exc:
            client.poll(0)  # serves error_cb and the log lines
            failure = watch.last
            if watch.definite or (failure and time.monotonic() >= deadline):
                raise BrokerError(redact(failure_sentence(failure, bootstrap, kafka or {}),
                                         kafka)) from None
            if time.monotonic() >= deadline:
                protocol = (kafka or {}).get("security.protocol")
                hint = (f", and check that kafka.security.protocol ({protocol}) is what the "
                        "listener speaks" if protocol else "")
                raise BrokerError(
                    f"cannot reach a Kafka broker at {bootstrap} within {timeout:.0f}s "
                    f"({exc.args[0].str()}); start one with `streamproc broker` or pass "
                    f"--broker HOST:PORT{hint}"
                ) from None
    client.poll(0)
    watch.checking = False
    return client
