"""Put streamproc's monitors in a faust-streaming app: :func:`add_monitors`.

It registers, on the app:

- one agent on the three input topics (raw bytes: bad input must reach the
  dead-letter topic, not fail a deserializer) that takes events in batches, hands
  them to :class:`FaustMonitors` and acknowledges those the monitors include;
- a service started before the app's consumer (it creates the topics, opens the
  output clients and serves ``/metrics``, ``/livez``, ``/readyz``) that checkpoints
  on a timer and closes the clients after the consumer stopped;
- handlers of the app's signals: ``on_partitions_assigned``/``on_partitions_revoked``
  (restore, checkpoint and hand over state), ``on_rebalance_complete`` (commit where
  each restored state resumes, just before Faust seeks there) and
  ``on_before_shutdown`` (a final checkpoint while the member is still in the group).

The app's consumer group (its ``id``) is the monitors' group: its committed offsets
say where monitors without state start, and state records are keyed by it.

The app's ``broker_credentials`` are the team's and secure the app's own clients;
streamproc's librdkafka clients (outputs, state, offsets) take the settings' ``kafka``
properties (``STREAMPROC_KAFKA``, or ``settings=``), which must give them the same
access: an ``ssl.SSLContext`` cannot be turned back into librdkafka properties.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import faust
from faust.types import TP, EventT, StreamT, TopicT
from mode import Service
from prometheus_client import CollectorRegistry

from ..config import Settings, load_settings
from ..webconfig import check_web_config
from .engine import FaustMonitors

__all__ = ["add_monitors", "monitor_settings"]

_log = logging.getLogger("streamproc.faust")

# The agent takes up to batch_size events, or what arrived within this long: the
# latency an alert may add, against the per-batch cost of tiny batches.
TAKE_WITHIN_SECONDS = 0.2
# How often the service beats, checkpoints when due and retries failed restores.
TICK_SECONDS = 0.25

TopicArg = str | TopicT | None


def _bootstrap(app: faust.App) -> str:
    return ",".join(f"{url.host}:{url.port or 9092}" for url in app.conf.broker)


def _topic_name(topic: str | TopicT) -> str:
    return topic if isinstance(topic, str) else topic.get_topic_name()


def monitor_settings(
    app: faust.App, settings: Settings | None = None, *, features: TopicArg = None,
    predictions: TopicArg = None, labels: TopicArg = None,
) -> Settings:
    """The settings the monitors of ``app`` run with.

    Without ``settings``: ``STREAMPROC_*`` and the defaults, with the app's broker
    unless ``STREAMPROC_BROKER`` is set. Topics given here replace the settings' ones;
    the group is always the app's id.
    """
    if settings is None:
        overrides = {} if "STREAMPROC_BROKER" in os.environ else {"broker": _bootstrap(app)}
        settings = load_settings(None, **overrides)
    update: dict[str, Any] = {"group_id": app.conf.id}
    for name, topic in (("features_topic", features), ("predictions_topic", predictions),
                        ("labels_topic", labels)):
        if topic is not None:
            update[name] = _topic_name(topic)
    return settings.model_copy(update=update)


class _MonitorService(Service):
    """The monitors' lifecycle inside the app (a dependency started before its consumer)."""

    def __init__(self, app: faust.App, monitors: FaustMonitors, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.app = app
        self.monitors = monitors

    async def on_start(self) -> None:
        self.monitors.start()

    async def on_stop(self) -> None:
        self.monitors.close()

    @Service.task
    async def _tick(self) -> None:
        # A plain sleep, not a mode timer: a checkpoint may take longer than a tick.
        while not self.should_stop:
            await self.sleep(TICK_SECONDS)
            self.monitors.tick(self.app.rebalancing)

    async def absorb(self, stream: StreamT, events: list[EventT]) -> None:
        for i in self.monitors.absorb([e.message for e in events]):
            await stream.ack(events[i])

    # Signal receivers: called as receiver(sender, *args, signal=..., **kwargs).
    async def on_assigned(self, _app: Any, assigned: set[TP], **_: Any) -> None:
        self.monitors.assign(assigned)

    async def on_revoked(self, _app: Any, revoked: set[TP], **_: Any) -> None:
        self.monitors.revoke(revoked)

    async def on_rebalance_complete(self, _app: Any, **_: Any) -> None:
        # Sent right before Faust seeks every partition to its committed offset: commit
        # where each restored state resumes, so that is where the seek lands. Faust has
        # no public call that commits given offsets; Consumer._commit is its transport's.
        offsets = {TP(t, p): o for (t, p), o in self.monitors.offsets_to_commit().items()}
        if not offsets:
            return
        if await self.app.consumer._commit(offsets):
            _log.info("resuming from the offsets the state includes: %s",
                      ", ".join(f"{tp.topic}[{tp.partition}]@{o}" for tp, o in offsets.items()))
        else:
            _log.warning("could not commit the state's offsets (rebalancing again)")

    async def on_before_shutdown(self, _app: Any, **_: Any) -> None:
        self.monitors.checkpoint()


def add_monitors(
    app: faust.App, *, settings: Settings | None = None, features: TopicArg = None,
    predictions: TopicArg = None, labels: TopicArg = None,
    registry: CollectorRegistry | None = None,
) -> FaustMonitors:
    """Monitor the inputs and predictions of ``app``'s models with streamproc.

    ``features``, ``predictions`` and ``labels`` are topic names or the app's own
    topics (their serializers do not matter: the monitors read raw bytes); by default
    the settings' topics. Call it once per app, before the app starts. The monitors'
    HTTP endpoint reads ``metrics_web_config`` (TLS, basic auth) as the worker's does;
    an invalid file raises ConfigError here.
    """
    s = monitor_settings(app, settings, features=features, predictions=predictions,
                         labels=labels)
    if s.metrics_web_config is not None:
        # Now, in the team's code, not as a traceback from inside the started app.
        check_web_config(s.metrics_web_config)
    if app.conf.broker_credentials is not None and not s.kafka:
        _log.warning("the app has broker_credentials but streamproc's kafka settings are "
                     "empty: the monitors' own clients connect in PLAINTEXT; set "
                     "STREAMPROC_KAFKA (or pass settings=) with the same access")
    monitors = FaustMonitors(s, registry, auto_offset_reset=app.conf.consumer_auto_offset_reset)
    service = _MonitorService(app, monitors)
    app.add_dependency(service)
    app.on_partitions_assigned.connect(service.on_assigned)
    app.on_partitions_revoked.connect(service.on_revoked)
    app.on_rebalance_complete.connect(service.on_rebalance_complete)
    app.on_before_shutdown.connect(service.on_before_shutdown)
    channel = app.topic(*s.input_topics().values(), key_type=bytes, value_type=bytes,
                        key_serializer="raw", value_serializer="raw")

    async def streamproc_monitors(stream: StreamT) -> None:
        async for events in stream.noack_take(s.batch_size, within=TAKE_WITHIN_SECONDS):
            await service.absorb(stream, list(events))

    app.agent(channel, name="streamproc-monitors")(streamproc_monitors)
    return monitors
