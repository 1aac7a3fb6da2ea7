"""Shared fixtures: a real embedded Kafka-protocol broker and helpers around it.

One Tansu broker serves the whole session; every test gets its own topic names and
consumer group, so tests never see each other's events.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from streamproc.broker import EmbeddedBroker, free_port
from streamproc.config import Settings, load_settings
from streamproc.kafka.common import admin
from streamproc.kafka.state_store import StateStore
from streamproc.kafka.worker import Worker

REPO = Path(__file__).resolve().parents[1]
_counter = itertools.count()

# Short group timeouts: Tansu answers a join after a fraction of the session
# timeout, and waits the full timeout for a member that died without leaving.
FAST_GROUP = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 500}


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(free_port(), log_file=log) as b:
        yield b


def unique(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{next(_counter)}"


def settings_for(broker: EmbeddedBroker, name: str, **overrides: Any) -> Settings:
    """Settings with topics and group unique to one test."""
    tag = unique(name)
    values: dict[str, Any] = {
        "broker": broker.bootstrap,
        "group_id": f"g-{tag}",
        "features_topic": f"features-{tag}",
        "predictions_topic": f"predictions-{tag}",
        "labels_topic": f"labels-{tag}",
        "alerts_topic": f"alerts-{tag}",
        "dead_letter_topic": f"dlq-{tag}",
        "state_topic": f"state-{tag}",
        "partitions": 4,
        "metrics_port": 0,
        "checkpoint_interval_seconds": 1.0,
        **FAST_GROUP,
    }
    values.update(overrides)
    return load_settings(None, **values)


def worker_env(settings: Settings) -> dict[str, str]:
    """The STREAMPROC_* environment that reproduces ``settings`` in a subprocess."""
    env = dict(os.environ)

    def text(value: Any) -> str:
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, (list, dict)):
            return orjson.dumps(value).decode()  # complex settings are JSON in the environment
        return str(value)

    exclude = {"detection", "models", "state_key", "kafka"}
    for key, value in settings.model_dump(exclude=exclude).items():
        if value is not None:
            env[f"STREAMPROC_{key.upper()}"] = text(value)
    for key, value in settings.detection.model_dump().items():
        if value is not None:
            env[f"STREAMPROC_DETECTION__{key.upper()}"] = text(value)
    if settings.state_key is not None:
        env["STREAMPROC_STATE_KEY"] = settings.state_key.get_secret_value()
    if settings.kafka:  # secrets revealed: the subprocess must be able to connect
        env["STREAMPROC_KAFKA"] = orjson.dumps(settings.kafka_properties()).decode()
    return env


@contextmanager
def running_worker(settings: Settings) -> Iterator[Worker]:
    """A worker in a thread of this process; stopped (with a final checkpoint) on exit."""
    worker = Worker(settings)
    worker.start()
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: worker.health.ready()[0], 30, "worker ready")
        yield worker
    finally:
        worker.stop()
        thread.join(60)


def wait_until(check: Any, timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def producer(target: EmbeddedBroker | str) -> Producer:
    """A confluent-kafka producer on a broker (or a bootstrap address)."""
    bootstrap = target if isinstance(target, str) else target.bootstrap
    return Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "log_level": 3})


def read_topic(bootstrap: str, topic: str, timeout: float = 10.0,
               kafka: dict[str, str] | None = None) -> list[Any]:
    """All messages currently in ``topic`` (no consumer group: no join delay).

    Reads each partition to its end-of-partition event, not to the high watermark of a
    ListOffsets request: Tansu answers that with the last batch's base offset + 1, so a
    read that stopped there would miss the rest of a multi-record batch.
    """
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "test-reader",
                  "enable.auto.commit": False, "enable.partition.eof": True, "log_level": 3,
                  **(kafka or {})})
    try:
        meta = c.list_topics(topic, timeout=timeout).topics[topic]
        ends = {}
        for p in meta.partitions:
            low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            if high > low:
                ends[p] = high
        if not ends:
            return []
        c.assign([TopicPartition(topic, p, 0) for p in ends])
        out = []
        deadline = time.monotonic() + timeout
        open_partitions = set(ends)
        while open_partitions and time.monotonic() < deadline:
            for m in c.consume(1000, 0.5):
                err = m.error()
                if err is None:
                    out.append(m)
                elif err.code() == KafkaError._PARTITION_EOF and m.offset() >= ends[m.partition()]:
                    open_partitions.discard(m.partition())
        return out
    finally:
        c.close()


def read_alerts(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    return [orjson.loads(m.value()) for m in read_topic(bootstrap, topic)]


def event_pair(model: str, i: int, features: dict[str, Any],
               prediction: float) -> list[tuple[str, bytes, bytes]]:
    """Event ``i`` of ``model`` (version v1): its feature and prediction messages."""
    head = {"model_id": model, "model_version": "v1", "event_id": f"{model}-{i}",
            "timestamp": 1.7e9 + i * 0.01}
    return [("features", model.encode(), orjson.dumps({**head, "features": features})),
            ("predictions", model.encode(), orjson.dumps({**head, "prediction": prediction}))]


def input_topics(broker: EmbeddedBroker, name: str, partitions: int,
                 stream: Iterable[tuple[str, bytes, bytes]]) -> dict[str, str]:
    """Create input topics unique to a test module and produce (kind, key, value) to them."""
    tag = unique(name)
    topics = {"features": f"features-{tag}", "predictions": f"predictions-{tag}",
              "labels": f"labels-{tag}"}
    client = admin(broker.bootstrap)  # must outlive its futures
    futures = client.create_topics([NewTopic(t, partitions, 1) for t in topics.values()])
    for f in futures.values():
        f.result()
    p = producer(broker)
    for kind, key, value in stream:
        while True:
            try:
                p.produce(topics[kind], key=key, value=value)
                break
            except BufferError:
                p.poll(0.1)
    assert p.flush(60) == 0
    return topics


def stored_states(settings: Settings, partitions: int) -> dict[int, dict[str, Any] | None]:
    """The best snapshot of every partition in the state topic (None: none written)."""
    store = StateStore(settings)
    try:
        return {p: store.load(p) for p in range(partitions)}
    finally:
        store.close()


def _state_json(state: dict[str, Any] | None, p: int) -> str:
    # A partition no event reached: the default engine wrote no snapshot, the Faust
    # engine its first one (nothing absorbed) when it took the partition over.
    empty = {"partition": p, "offsets": {}, "models": [], "joins": {},
             "places": {"clock": None, "last": []}}
    return json.dumps(empty if state is None else state, sort_keys=True)


def assert_same_run(outcome: dict[str, Any], reference: dict[str, Any]) -> None:
    """Two runs of one stream ended alike: snapshots (as JSON), alerts, gauges."""
    for p, state in reference["states"].items():
        assert _state_json(outcome["states"][p], p) == _state_json(state, p), (
            f"partition {p} state differs")
    ref_alerts = {a["alert_id"]: a for a in reference["alerts"]}
    assert {a["alert_id"] for a in outcome["alerts"]} == set(ref_alerts)
    for a in outcome["alerts"]:  # a re-sent alert is the same alert
        same = {k: v for k, v in a.items() if k != "detected_at"}
        assert same == {k: v for k, v in ref_alerts[a["alert_id"]].items() if k != "detected_at"}
    assert outcome["gauges"] == reference["gauges"]


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode()


def kcat_command() -> tuple[list[str], dict[str, str]] | None:
    """kcat with a librdkafka that speaks to Tansu, or None when kcat is not installed.

    Debian's kcat links librdkafka 2.0, which cannot parse the broker's ApiVersion v3
    reply; the librdkafka shipped inside the confluent-kafka wheel can, and is
    ABI-compatible, so kcat runs against it.
    """
    path = shutil.which("kcat")
    if path is None:
        return None
    import confluent_kafka

    libs = Path(confluent_kafka.__file__).resolve().parent.parent / "confluent_kafka.libs"
    env = dict(os.environ)
    candidates = sorted(libs.glob("librdkafka*.so*")) if libs.is_dir() else []
    if candidates:
        shim = Path(os.environ.get("TMPDIR", "/tmp")) / f"streamproc-rdkafka-{os.getuid()}"
        shim.mkdir(exist_ok=True)
        link = shim / "librdkafka.so.1"
        if not link.exists():
            link.symlink_to(candidates[0])
        env["LD_LIBRARY_PATH"] = f"{shim}:{env.get('LD_LIBRARY_PATH', '')}"
    return [path], env


def streamproc_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "streamproc", *args]


def run_cli(*args: str, timeout: float = 120, env: dict[str, str] | None = None,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(streamproc_cmd(*args), capture_output=True, text=True,
                          timeout=timeout, env=env, input=stdin, cwd=REPO)


_LIVE_WORKERS: list[WorkerProcess] = []


@pytest.fixture(autouse=True)
def _no_stray_workers() -> Iterator[None]:
    """A failing test must not leave worker processes running."""
    yield
    while _LIVE_WORKERS:
        w = _LIVE_WORKERS.pop()
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait(30)


class WorkerProcess:
    """A `streamproc worker` subprocess (or ``command``) configured like ``settings``."""

    def __init__(self, settings: Settings, log: Path, metrics_port: int | None = None,
                 command: list[str] | None = None, env: dict[str, str] | None = None) -> None:
        self.port = metrics_port or free_port()
        full_env = {**worker_env(settings), **(env or {})}
        full_env["STREAMPROC_METRICS_PORT"] = str(self.port)
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(command or streamproc_cmd("worker"), cwd=REPO,
                                         env=full_env, stdout=out, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        _LIVE_WORKERS.append(self)

    def status(self, path: str) -> int:
        try:
            with urllib.request.urlopen(self.base + path, timeout=2) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return 0

    def wait_ready(self, timeout: float = 60) -> None:
        wait_until(lambda: self.status("/readyz") == 200 or self.proc.poll() is not None,
                   timeout, "worker ready")
        if self.proc.poll() is not None:
            raise AssertionError(f"worker exited with {self.proc.returncode}; see {self.log}")

    def samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        from prometheus_client.parser import text_string_to_metric_families

        try:
            text = scrape(self.base + "/metrics")
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return {}
        out = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return out

    def total(self, name: str, **labels: str) -> float:
        return sum(v for (n, lab), v in self.samples().items()
                   if n == name and all(dict(lab).get(k) == w for k, w in labels.items()))

    def absorbed(self, feature: str = "x") -> float:
        """Events of ``feature`` the monitors include (restored with state, unlike counters)."""
        return self.total("streamproc_monitor_observations", signal="feature", feature=feature)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(30)

    def terminate(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)
