"""Webhook relays: each webhook reads the alerts topic in its own consumer group.

A relay is a thread of the worker with its own consumer in the group
``<group_id>-webhook-<name>``. It POSTs each alert (as a CloudEvent, see
:mod:`streamproc.webhooks.delivery`) and stores its offset only once the webhook is done
with it; librdkafka commits stored offsets every second, on rebalance and on close. So:

- the hot path never waits for a webhook: it only produces to the alerts topic;
- delivery is at least once: a restart, a crash or a rebalance resumes from the last
  committed alert, and an alert may reach a webhook twice, always with the same
  CloudEvents ``id`` (the ``alert_id``);
- webhooks are independent: one that is down holds back only its own group, whose
  backlog is ``streamproc_webhook_backlog_alerts``;
- N workers share the alert partitions of each webhook group, as they share the inputs.

A group that has never committed (a new webhook, a first start) starts at the alerts
published since the relay started, not at the topic's whole history, and commits that
position at once so that a restart before the first delivery loses nothing.

Failed attempts are retried in order, with a capped doubling backoff, while the relay
keeps polling: rebalances and shutdown are served during the waits. Messages that arrive
meanwhile wait in memory (the partitions pause beyond ``MAX_BUFFERED``).
"""

from __future__ import annotations

import collections
import logging
import threading
import time

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from prometheus_client import CollectorRegistry

from .. import cloudevents
from ..config import Settings
from ..webhooks.delivery import backoff, post
from ..webhooks.metrics import WebhookMetrics
from ..webhooks.settings import Webhook
from .common import consumer_config, new_consumer
from .lag import partition_lags

__all__ = ["WebhookRelay", "WebhookRelays"]

_log = logging.getLogger("streamproc.webhooks")

POLL_SECONDS = 0.25  # the longest a relay waits before it looks at its stop flag again
METRICS_INTERVAL_SECONDS = 1.0
MAX_BUFFERED = 1000  # alerts read ahead of the one being delivered; beyond it, pause
BROKER_TIMEOUT_SECONDS = 10.0


def group_of(settings: Settings, hook: Webhook) -> str:
    return f"{settings.group_id}-webhook-{hook.name}"


class WebhookRelay(threading.Thread):
    """Deliver every alert on the alerts topic to one webhook, at least once."""

    def __init__(self, settings: Settings, hook: Webhook, metrics: WebhookMetrics) -> None:
        super().__init__(daemon=True, name=f"webhook-{hook.name}")
        self.settings = settings
        self.hook = hook
        self.metrics = metrics
        self.group_id = group_of(settings, hook)
        self._stopping = threading.Event()
        self._started_ms = int(time.time() * 1000)
        config = consumer_config(settings.broker, f"streamproc-webhook-{hook.name}",
                                 settings.kafka_properties(), {
            "group.id": self.group_id,
            # Offsets are stored by hand once a webhook is done with an alert, and
            # committed by librdkafka (every second, on rebalance, on close).
            "enable.auto.commit": True,
            "enable.auto.offset.store": False,
            "auto.commit.interval.ms": 1000,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": settings.session_timeout_ms,
            "heartbeat.interval.ms": settings.heartbeat_interval_ms,
        })
        self._consumer = new_consumer(config)
        self._pending: collections.deque[Message] = collections.deque()
        self._failures = 0  # failed attempts in a row of the alert at the head
        self._next_attempt = 0.0
        self._paused = False
        self._fresh: set[int] = set()  # partitions that started at the relay's start time
        self._committed: dict[tuple[str, int], int] = {}
        metrics.prepare(hook.name)

    def stop(self) -> None:
        self._stopping.set()

    # -- rebalancing -----------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        try:
            start, new = self._start_offsets(consumer, partitions)
        except KafkaException as exc:
            # Without a start position, librdkafka's own applies: the committed offset, or
            # the topic's start (alerts sent again, never lost).
            _log.warning("webhook %s: cannot read committed offsets (%s); resuming from the "
                         "group's committed offsets or the topic's start", self.hook.name, exc)
            start, new = partitions, []
        consumer.assign(start)
        if new:
            try:
                consumer.commit(offsets=new, asynchronous=False)
            except KafkaException as exc:
                _log.warning("webhook %s: start position not committed (%s)", self.hook.name,
                             exc)
        self._committed = {(tp.topic, tp.partition): tp.offset for tp in start}
        self._paused = False
        _log.info("webhook %s: delivering alerts of partitions %s", self.hook.name,
                  sorted(tp.partition for tp in start))

    def _start_offsets(
        self, consumer: Consumer, partitions: list[TopicPartition],
    ) -> tuple[list[TopicPartition], list[TopicPartition]]:
        """Committed offsets; where there are none, the first alert since the relay started."""
        committed = consumer.committed(partitions, timeout=BROKER_TIMEOUT_SECONDS)
        new = [tp for tp in committed if tp.offset < 0]
        if new:
            wanted = [TopicPartition(tp.topic, tp.partition, self._started_ms) for tp in new]
            found = consumer.offsets_for_times(wanted, timeout=BROKER_TIMEOUT_SECONDS)
            for tp, at in zip(new, found, strict=True):
                if at.offset >= 0:
                    tp.offset = at.offset
                else:  # nothing published since the start: begin at the end
                    tp.offset = consumer.get_watermark_offsets(
                        TopicPartition(tp.topic, tp.partition), timeout=BROKER_TIMEOUT_SECONDS
                    )[1]
                self._fresh.add(tp.partition)
        return committed, new

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        gone = {tp.partition for tp in partitions}
        if self._pending and self._pending[0].partition() in gone:
            self._failures, self._next_attempt = 0, 0.0  # its new owner delivers it
        self._pending = collections.deque(m for m in self._pending if m.partition() not in gone)
        self._fresh -= gone

    # -- the loop ----------------------------------------------------------------------------
    def run(self) -> None:
        self._consumer.subscribe(
            [self.settings.alerts_topic], on_assign=self._on_assign,
            on_revoke=self._on_revoke, on_lost=self._on_revoke,
        )
        last_metrics = 0.0
        try:
            while not self._stopping.is_set():
                try:
                    self._step()
                except KafkaException as exc:  # the broker; librdkafka reconnects by itself
                    _log.warning("webhook %s: %s; retrying", self.hook.name, exc)
                    self._stopping.wait(1.0)
                if time.monotonic() - last_metrics >= METRICS_INTERVAL_SECONDS:
                    last_metrics = time.monotonic()
                    self._publish_metrics()
        finally:
            self._consumer.close()  # commits the stored offsets and leaves the group

    def _step(self) -> None:
        """Take what arrived; attempt the head alert when its wait is over."""
        wait = POLL_SECONDS
        if self._pending:
            wait = min(max(self._next_attempt - time.monotonic(), 0.0), POLL_SECONDS)
        self._take(self._consumer.consume(100, wait))
        if self._pending and time.monotonic() >= self._next_attempt:
            self._attempt(self._pending[0])

    def _take(self, messages: list[Message]) -> None:
        for m in messages:
            err = m.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    _log.warning("webhook %s: reading alerts: %s", self.hook.name, err.str())
                continue
            if m.partition() in self._fresh:
                if 0 <= m.timestamp()[1] < self._started_ms:
                    self._consumer.store_offsets(m)  # published before this relay existed
                    continue
                # From here on every alert of the partition is delivered: storing the offset
                # of a later but older-stamped one would commit past an undelivered alert.
                self._fresh.discard(m.partition())
            self._pending.append(m)
        full = len(self._pending) >= MAX_BUFFERED
        if full != self._paused:
            assignment = self._consumer.assignment()
            (self._consumer.pause if full else self._consumer.resume)(assignment)
            self._paused = full

    def _attempt(self, m: Message) -> None:
        name = self.hook.name
        try:
            alert = orjson.loads(m.value())
            body = cloudevents.structured_event(alert, self.settings.group_id)
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            _log.error("webhook %s: %s[%d]@%d is not a drift alert (%r); not sent", name,
                       m.topic(), m.partition(), m.offset(), exc)
            self._done(m, "invalid")
            return
        attempt = post(self.hook, body)
        self.metrics.attempts.labels(name, attempt.result).inc()
        if attempt.outcome == "retry":
            self._failures += 1
            wait = backoff(self.hook, self._failures, attempt.retry_after)
            self._next_attempt = time.monotonic() + wait
            self.metrics.retries.labels(name).inc()
            log = _log.warning if self._failures in (1, 10) or self._failures % 100 == 0 \
                else _log.debug
            log("webhook %s: alert %s not delivered (%s, attempt %d); retrying in %.1fs",
                name, alert["alert_id"], attempt.detail, self._failures, wait)
            return
        if attempt.outcome == "rejected":
            _log.error("webhook %s refused alert %s (%s); it stays on %s", name,
                       alert["alert_id"], attempt.detail, m.topic())
        self._done(m, attempt.outcome)

    def _done(self, m: Message, outcome: str) -> None:
        self._consumer.store_offsets(m)
        self._pending.popleft()
        self._failures = 0
        self._next_attempt = 0.0
        self.metrics.deliveries.labels(self.hook.name, outcome).inc()

    def _publish_metrics(self) -> None:
        try:
            lags = partition_lags(self._consumer, self._committed)
        except KafkaException:
            return
        name = self.hook.name
        self.metrics.backlog.labels(name).set(sum(lags.values()) + len(self._pending))
        age = 0.0
        if self._pending:
            _ts_type, ts = self._pending[0].timestamp()
            age = max(time.time() - ts / 1000.0, 0.0) if ts > 0 else 0.0
        self.metrics.oldest_age.labels(name).set(age)


class WebhookRelays:
    """All relays of a worker: started together, stopped together in bounded time."""

    def __init__(self, settings: Settings, hooks: list[Webhook],
                 registry: CollectorRegistry) -> None:
        self.metrics = WebhookMetrics(registry)
        self.relays = [WebhookRelay(settings, hook, self.metrics) for hook in hooks]

    def start(self) -> None:
        for relay in self.relays:
            relay.start()

    def stop(self) -> None:
        for relay in self.relays:
            relay.stop()

    def join(self) -> None:
        for relay in self.relays:
            # An attempt in flight ends within the webhook's timeout; then close() commits.
            relay.join(relay.hook.timeout_seconds + BROKER_TIMEOUT_SECONDS)
            if relay.is_alive():
                _log.warning("webhook %s: relay still running at shutdown", relay.hook.name)
