"""Producer SDK: what a model's serving layer uses to publish events to streamproc.

>>> from streamproc.client import EventProducer           # doctest: +SKIP
>>> with EventProducer("127.0.0.1:9092") as events:         # doctest: +SKIP
...     events.send_features("churn", "v3", "req-17", {"age": 41, "plan": "pro"})
...     events.send_prediction("churn", "v3", "req-17", 0.83)

A secured cluster takes the same ``kafka`` properties as the worker (values may be
``{"file": PATH}`` or ``{"env": NAME}``), or the worker's own settings file:

>>> EventProducer("broker:9093", kafka={"security.protocol": "SSL",       # doctest: +SKIP
...                                      "ssl.ca.location": "/etc/kafka/ca.pem"})
>>> EventProducer.from_settings("streamproc.yaml")                        # doctest: +SKIP

Events are keyed by model_id and validated against ``schemas/`` before they leave
the process, so a serving bug shows up as a ``ValueError`` at the call site, not as
a dead letter later. Delivery is asynchronous and retried by librdkafka (through
broker outages, up to ``delivery_timeout_s``); what could not be delivered is
collected in :attr:`EventProducer.failures` and raised by :meth:`flush`, never
dropped silently.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import orjson
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from .core import validator
from .errors import ConfigError, StreamprocError
from .kafka.properties import redact, refusal, resolve, reveal

if TYPE_CHECKING:
    from .config import Settings

__all__ = ["DeliveryError", "DeliveryFailure", "EventProducer"]


@dataclass(frozen=True)
class DeliveryFailure:
    """One event the broker did not acknowledge in time."""

    topic: str
    key: bytes
    value: bytes
    error: str


class DeliveryError(StreamprocError):
    """Some events could not be delivered; ``failures`` lists them (with their bytes)."""

    def __init__(self, failures: list[DeliveryFailure]) -> None:
        self.failures = failures
        first = failures[0]
        super().__init__(
            f"{len(failures)} event(s) could not be delivered (first: {first.topic} "
            f"key={first.key.decode(errors='replace')!r}: {first.error}); they are in "
            "DeliveryError.failures for a retry or a local spill"
        )


_SDK_REFUSED = {
    "bootstrap.servers": "it is EventProducer's first argument",
    "metadata.broker.list": "bootstrap.servers is EventProducer's first argument",
}


def _check_finite(where: str, values: dict[str, Any] | None) -> None:
    for name, v in (values or {}).items():
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(
                f"{where} {name!r} is {v}, which JSON cannot carry; send None for a missing value"
            )


class EventProducer:
    """Publish feature, prediction and label events.

    Parameters
    ----------
    bootstrap
        Kafka bootstrap servers, ``HOST:PORT[,...]``.
    features_topic, predictions_topic, labels_topic
        Topic names (defaults match the worker's).
    validate
        Check every event against the JSON Schemas before sending (default True).
    delivery_timeout_s
        How long librdkafka keeps retrying an event (through broker outages) before
        reporting it as failed.
    kafka
        librdkafka properties for the connection (``security.protocol``, ``ssl.*``,
        ``sasl.*``, ...), as in the worker's ``kafka`` setting: a value may be
        ``{"file": PATH}`` or ``{"env": NAME}``. Only ``bootstrap.servers`` is refused
        (it is ``bootstrap``). Bad properties raise ConfigError in one sentence.
    config
        Extra librdkafka settings, e.g. ``{"linger.ms": 20}`` (applied last).
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        features_topic: str = "features",
        predictions_topic: str = "predictions",
        labels_topic: str = "labels",
        validate: bool = True,
        delivery_timeout_s: float = 300.0,
        config: dict[str, Any] | None = None,
        kafka: Mapping[str, Any] | None = None,
    ) -> None:
        try:
            connection = resolve(kafka or {}, refused=_SDK_REFUSED)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        settings = {
            "bootstrap.servers": bootstrap,
            "client.id": "streamproc-sdk",
            "linger.ms": 10,
            "acks": "all",
            "enable.idempotence": False,
            "message.timeout.ms": int(delivery_timeout_s * 1000),
            "log_level": 3,
            **reveal(connection),
            **(config or {}),
        }
        try:
            self._producer = Producer(settings)
        except KafkaException as exc:
            raise refusal(exc, settings, "producer") from None
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"EventProducer: {redact(str(exc), settings)}") from None
        self._topics = {
            "features": features_topic,
            "predictions": predictions_topic,
            "labels": labels_topic,
        }
        self._validate = validate
        self._lock = threading.Lock()
        self.failures: list[DeliveryFailure] = []
        self.delivered = 0
        self.sent = 0

    @classmethod
    def from_settings(cls, settings: Settings | str | Path | None = None,
                      **options: Any) -> EventProducer:
        """A producer on the broker, topics and ``kafka`` properties of streamproc's
        settings: a Settings object, or a config file (with ``STREAMPROC_*`` applied, as
        the worker reads it; None: the environment alone). ``options`` are the
        constructor's (``validate``, ``delivery_timeout_s``, ``config``)."""
        from .config import Settings as _Settings
        from .config import load_settings

        s = settings if isinstance(settings, _Settings) else load_settings(settings)
        return cls(s.broker, features_topic=s.features_topic,
                   predictions_topic=s.predictions_topic, labels_topic=s.labels_topic,
                   kafka=s.kafka_properties(), **options)

    # -- sending ---------------------------------------------------------------------------
    def send_features(
        self,
        model_id: str,
        model_version: str,
        event_id: str,
        features: dict[str, Any],
        timestamp: float | str | None = None,
    ) -> None:
        """Publish one inference's input features (numbers, strings, booleans or None)."""
        _check_finite("feature", features)
        self._send(
            "features",
            {
                "model_id": model_id,
                "model_version": model_version,
                "event_id": event_id,
                "timestamp": time.time() if timestamp is None else timestamp,
                "features": features,
            },
        )

    def send_prediction(
        self,
        model_id: str,
        model_version: str,
        event_id: str,
        prediction: float | str | bool,
        scores: dict[str, float] | None = None,
        timestamp: float | str | None = None,
    ) -> None:
        """Publish one inference's output (and optional class probabilities)."""
        _check_finite("prediction", {"prediction": prediction})
        _check_finite("score", scores)
        event: dict[str, Any] = {
            "model_id": model_id,
            "model_version": model_version,
            "event_id": event_id,
            "timestamp": time.time() if timestamp is None else timestamp,
            "prediction": prediction,
        }
        if scores is not None:
            event["scores"] = scores
        self._send("predictions", event)

    def send_label(
        self,
        model_id: str,
        event_id: str,
        label: float | str | bool,
        timestamp: float | str | None = None,
    ) -> None:
        """Publish the ground truth of an earlier inference (joined by event_id)."""
        _check_finite("label", {"label": label})
        self._send(
            "labels",
            {
                "model_id": model_id,
                "event_id": event_id,
                "timestamp": time.time() if timestamp is None else timestamp,
                "label": label,
            },
        )

    def _send(self, kind: str, event: dict[str, Any]) -> None:
        if self._validate:
            check = validator(kind)
            if not check.is_valid(event):
                error = next(iter(check.iter_errors(event)))
                path = "/" + "/".join(str(p) for p in error.instance_path)
                raise ValueError(f"{kind} event is invalid at {path}: {error.message}")
        topic = self._topics[kind]
        key = event["model_id"].encode()
        value = orjson.dumps(event)

        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            with self._lock:
                if err is None:
                    self.delivered += 1
                else:
                    self.failures.append(DeliveryFailure(topic, key, value, err.str()))

        while True:
            try:
                self._producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
                break
            except BufferError:
                # The local queue is full (broker slow or down): wait for room.
                self._producer.poll(0.1)
        self.sent += 1
        self._producer.poll(0)

    # -- delivery ------------------------------------------------------------------------------
    def flush(self, timeout: float = 30.0) -> None:
        """Wait for outstanding events; raise DeliveryError for any that failed.

        Raises TimeoutError if events are still in flight after ``timeout``
        (they keep retrying in the background).
        """
        remaining = self._producer.flush(timeout)
        with self._lock:
            failures, self.failures = self.failures, []
        if failures:
            raise DeliveryError(failures)
        if remaining:
            raise TimeoutError(
                f"{remaining} event(s) still in flight after {timeout:.0f}s; the broker may "
                "be down. They are retried until delivery_timeout_s, then reported."
            )

    @property
    def in_flight(self) -> int:
        return len(self._producer)

    def close(self, timeout: float = 30.0) -> None:
        self.flush(timeout)

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._producer.flush(5.0)
