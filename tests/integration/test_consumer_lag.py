"""Consumer lag: exact on a consumer the test drives, and zero on a worker that drained."""

from __future__ import annotations

import subprocess
import sys

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import NewTopic
from prometheus_client import CollectorRegistry, Gauge

from streamproc.kafka.common import admin
from streamproc.kafka.lag import ConsumerLag

from ..conftest import producer, running_worker, settings_for, unique, wait_until
from .traffic import send_shifted

pytestmark = pytest.mark.integration


def _consumer(bootstrap: str, group: str) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                     "enable.auto.commit": False, "log_level": 3})


def test_lag_is_high_watermark_minus_position(broker) -> None:
    topic, group = unique("lag"), unique("lag-group")
    client = admin(broker.bootstrap)
    for future in client.create_topics([NewTopic(topic, 3, 1)]).values():
        future.result()
    p = producer(broker)
    for partition, n in ((0, 50), (1, 30)):  # partition 2 stays empty
        for i in range(n):
            p.produce(topic, value=b"%d" % i, partition=partition)
    assert p.flush(10) == 0
    first = _consumer(broker.bootstrap, group)  # the group has read all of partition 1
    first.commit(offsets=[TopicPartition(topic, 1, 30)], asynchronous=False)
    first.close()

    registry = CollectorRegistry()
    gauge = Gauge("lag", "lag", ["topic", "partition"], registry=registry)
    lag = ConsumerLag(broker.bootstrap, group, gauge)
    c = _consumer(broker.bootstrap, group)
    try:
        # Partition 0 from the start, 1 from the committed offset, 2 has nothing committed.
        c.assign([TopicPartition(topic, 0, 0), TopicPartition(topic, 1), TopicPartition(topic, 2)])
        taken = 0
        while taken < 20:
            taken += len([m for m in c.consume(20 - taken, 1.0) if not m.error()])
        expected = {(topic, 0): 30, (topic, 1): 0, (topic, 2): 0}
        # Partitions 1 and 2 have handed out nothing: their lag waits for committed offsets.
        wait_until(lambda: lag.refresh(c) == expected, 10, "lag of all three partitions")
        assert registry.get_sample_value("lag", {"topic": topic, "partition": "0"}) == 30
        assert lag.refresh(c, exclude=[0]) == {(topic, 1): 0, (topic, 2): 0}
        assert registry.get_sample_value("lag", {"topic": topic, "partition": "0"}) is None

        while taken < 50:
            taken += len([m for m in c.consume(50 - taken, 1.0) if not m.error()])
        assert lag.refresh(c)[(topic, 0)] == 0
    finally:
        c.close()
        lag.close()


def test_a_drained_worker_reports_zero_lag_on_every_input_partition(broker) -> None:
    s = settings_for(broker, "worker-lag", detection={"reference_size": 200})
    with running_worker(s) as worker:
        send_shifted(broker.bootstrap, s.features_topic, ["m0", "m1", "m2"])
        topics = (s.features_topic, s.predictions_topic, s.labels_topic)

        def lags() -> dict[tuple[str, str], float | None]:
            return {(t, str(p)): worker.registry.get_sample_value(
                "streamproc_consumer_lag_messages", {"topic": t, "partition": str(p)})
                for t in topics for p in range(4)}

        wait_until(lambda: worker.registry.get_sample_value(
            "streamproc_events_consumed_total",
            {"model_id": "m2", "topic": s.features_topic}) == 1200, 30, "all consumed")
        wait_until(lambda: set(lags().values()) == {0.0}, 15, "every partition's lag at 0")


_DROP_WITH_REQUEST_IN_FLIGHT = """
import sys, time
from confluent_kafka import Consumer, TopicPartition
from prometheus_client import CollectorRegistry, Gauge
from streamproc.kafka.lag import ConsumerLag

bootstrap, topic, group = sys.argv[1:4]
gauge = Gauge("lag", "lag", ["topic", "partition"], registry=CollectorRegistry())
c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "log_level": 3})
c.assign([TopicPartition(topic, 0)])
lag = ConsumerLag(bootstrap, group, gauge)
lag.refresh(c)  # asks the admin client for the committed offset: a request in flight
del lag  # the last reference the application holds
time.sleep(3)  # the answer arrives on librdkafka's thread meanwhile
c.close()
print("exited cleanly")
"""


def test_dropping_a_lag_tracker_with_a_request_in_flight_does_not_abort(broker) -> None:
    # The request's callback used to hold the tracker, hence its admin client: the client
    # was then destroyed on librdkafka's own thread, which aborts the process (SIGABRT).
    topic = unique("lag-drop")
    client = admin(broker.bootstrap)
    for future in client.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result()
    done = subprocess.run(
        [sys.executable, "-c", _DROP_WITH_REQUEST_IN_FLIGHT, broker.bootstrap, topic,
         unique("lag-drop-group")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "exited cleanly" in done.stdout
