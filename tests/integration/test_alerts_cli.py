"""`streamproc alerts` as a subprocess on the embedded broker: lines, JSON, --since, --follow."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time

import orjson
import pytest
from confluent_kafka.admin import NewTopic

from streamproc.kafka.common import admin

from ..conftest import REPO, producer, run_cli, streamproc_cmd, unique
from ..samples import drift_alert

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000


def _alert(model: str, n: int, minutes_ago: float) -> dict:
    return drift_alert(
        alert_id=f"{n:032x}", model_id=model, model_version="7",
        detected_at=f"2026-11-27T07:{n:02d}:00.000Z",
        summary=f"{model} 7: feature 'avg_session_minutes' mean shifted up by 0.{n}0 sd; "
                f"onset at event 1{n}, detected at event 2{n} by cusum [high]",
    ) | {"_minutes_ago": minutes_ago}


def _publish(bootstrap: str, topic: str, alerts: list[dict]) -> None:
    p = producer(bootstrap)
    now_ms = int(time.time() * 1000)
    for a in alerts:
        body = {k: v for k, v in a.items() if k != "_minutes_ago"}
        p.produce(topic, key=a["model_id"].encode(), value=orjson.dumps(body),
                  timestamp=now_ms - int(a["_minutes_ago"] * 60_000))
    assert p.flush(10) == 0


def _line(n: int, model: str) -> str:
    return (f"2026-11-27T07:{n:02d}:00.000Z  {model} 7  feature/avg_session_minutes  "
            f"cusum  high  mean shifted up by 0.{n}0 sd; onset at event 1{n}, "
            f"detected at event 2{n}")


@pytest.fixture(scope="module")
def topic_env(broker) -> tuple[dict[str, str], list[dict]]:
    topic = unique("cli-alerts")
    client = admin(broker.bootstrap)
    for future in client.create_topics([NewTopic(topic, 3, 1)]).values():
        future.result()
    alerts = [_alert("churn", 1, 180), _alert("fraud", 2, 30), _alert("churn", 3, 1),
              _alert("fraud", 4, 0.5)]
    _publish(broker.bootstrap, topic, alerts)
    env = {**os.environ, "STREAMPROC_BROKER": broker.bootstrap,
           "STREAMPROC_ALERTS_TOPIC": topic}
    return env, alerts


def test_prints_every_alert_and_exits(topic_env) -> None:
    env, _ = topic_env
    result = run_cli("alerts", env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == [
        _line(1, "churn"), _line(2, "fraud"), _line(3, "churn"), _line(4, "fraud")]


def test_since_and_model_filter_json_lines(topic_env) -> None:
    env, alerts = topic_env
    result = run_cli("alerts", "--since", "1h", "--model", "churn", "--json", env=env,
                     timeout=60)
    assert result.returncode == 0, result.stderr
    expected = {k: v for k, v in alerts[2].items() if k != "_minutes_ago"}
    assert [orjson.loads(line) for line in result.stdout.splitlines()] == [expected]
    recent = run_cli("alerts", "--since", "10m", env=env, timeout=60)
    assert sorted(recent.stdout.splitlines()) == [_line(3, "churn"), _line(4, "fraud")]


def test_follow_prints_new_alerts_until_ctrl_c(broker, topic_env) -> None:
    env, _ = topic_env
    proc = subprocess.Popen(streamproc_cmd("alerts", "--follow", "--since", "2m"), cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x.rstrip("\n")) for x in proc.stdout],  # type: ignore[union-attr]
                     daemon=True).start()
    try:
        first = sorted([lines.get(timeout=30), lines.get(timeout=30)])
        assert first == [_line(3, "churn"), _line(4, "fraud")]
        _publish(broker.bootstrap, env["STREAMPROC_ALERTS_TOPIC"], [_alert("churn", 5, 0)])
        assert lines.get(timeout=30) == _line(5, "churn")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
        assert lines.empty()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_user_errors_are_one_sentence_and_exit_2(topic_env) -> None:
    env, _ = topic_env
    bad = run_cli("alerts", "--since", "yesterday", env=env, timeout=60)
    assert (bad.returncode, bad.stderr.strip().splitlines()) == (2, [
        "streamproc alerts: error: --since 'yesterday' is not a duration; use a number and a "
        "unit, e.g. 30s, 10m, 2h or 1d"])
    down = run_cli("alerts", "--broker", "127.0.0.1:1", timeout=60,
                   env={**env, "STREAMPROC_BROKER_TIMEOUT_SECONDS": "2"})
    assert down.returncode == 2
    assert down.stderr.strip().splitlines()[-1].startswith(
        "streamproc alerts: error: cannot reach a Kafka broker at 127.0.0.1:1 within 2s")
    assert "Traceback" not in down.stderr
    missing = run_cli("alerts", timeout=60, env={**env, "STREAMPROC_ALERTS_TOPIC": "nope"})
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1].startswith(
        f"streamproc alerts: error: the broker at {env['STREAMPROC_BROKER']} has no topic nope")
