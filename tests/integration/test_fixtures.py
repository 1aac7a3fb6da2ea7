"""The test helpers that read topics see every message, on Tansu as on Kafka."""

from __future__ import annotations

from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic

from streamproc.kafka.common import admin

from ..conftest import read_topic, unique


def test_read_topic_reads_all_of_a_last_batch_of_many_records(broker) -> None:
    # Tansu answers a ListOffsets request with the last batch's base offset + 1: a read
    # that stopped at that watermark missed the rest of a batch (a dead letter test did).
    topic = unique("read-all")
    client = admin(broker.bootstrap)
    for future in client.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result()
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 200, "log_level": 3})
    for batch in range(3):
        for i in range(700):
            p.produce(topic, value=f"{batch}-{i}".encode())
        p.flush()
    got = read_topic(broker.bootstrap, topic)
    assert [m.value().decode() for m in got] == [f"{b}-{i}" for b in range(3) for i in range(700)]
