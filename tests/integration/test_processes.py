"""``streamproc worker --processes 2``: two group members under one supervisor.

Both serve metrics (on consecutive ports) and share the partitions; every event is
consumed once between them; one killed with SIGKILL is restarted and its partitions
come back to it; SIGTERM stops both cleanly.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

import orjson
import pytest

from streamproc.broker import free_port

from ..conftest import (
    REPO,
    WorkerProcess,
    producer,
    settings_for,
    streamproc_cmd,
    wait_until,
    worker_env,
)

pytestmark = pytest.mark.integration

MODELS, PER_MODEL = 8, 500


def _two_free_ports() -> int:
    for _ in range(50):
        port = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise AssertionError("no two consecutive free ports")


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


class _Member(WorkerProcess):
    """The metrics endpoint of one supervised process (no process of its own)."""

    def __init__(self, port: int) -> None:  # noqa: D107 - only the HTTP side is reused
        self.port, self.base = port, f"http://127.0.0.1:{port}"


def test_two_processes_share_the_partitions_and_survive_a_kill(broker, tmp_path) -> None:
    s = settings_for(broker, "procs", partitions=4)
    port = _two_free_ports()
    env = {**worker_env(s), "STREAMPROC_METRICS_PORT": str(port)}
    log = tmp_path / "supervisor.log"
    with open(log, "ab") as out:
        sup = subprocess.Popen(streamproc_cmd("worker", "--processes", "2"), cwd=REPO, env=env,
                               stdout=out, stderr=subprocess.STDOUT)
    try:
        members = [_Member(port), _Member(port + 1)]
        wait_until(lambda: all(m.status("/readyz") == 200 for m in members), 90,
                   f"both processes ready (see {log})")

        p = producer(broker)
        for m in range(MODELS):
            for i in range(PER_MODEL):
                event = {"model_id": f"m{m}", "model_version": "1", "event_id": f"{m}-{i}",
                         "timestamp": 1.7e9 + i, "features": {"x": float(i % 7)}}
                p.produce(s.features_topic, key=f"m{m}".encode(), value=orjson.dumps(event))
        p.flush()

        def consumed(m: _Member) -> float:
            return m.total("streamproc_events_consumed_total", topic=s.features_topic)

        total = MODELS * PER_MODEL
        wait_until(lambda: sum(consumed(m) for m in members) == total, 60,
                   "every event consumed by one of the two")
        owned = [m.total("streamproc_partitions_assigned") for m in members]
        assert all(n > 0 for n in owned) and sum(owned) == 4, owned

        kids = _children(sup.pid)
        assert len(kids) == 2
        victim = next(k for k in kids if f"--metrics-port {port + 1}".encode()
                      in Path(f"/proc/{k}/cmdline").read_bytes().replace(b"\0", b" "))
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: victim not in _children(sup.pid) and len(_children(sup.pid)) == 2
                   and members[1].status("/readyz") == 200, 90, "the killed process restarted")
        wait_until(lambda: members[1].total("streamproc_partitions_assigned") > 0, 60,
                   "partitions back on the restarted process")

        sup.send_signal(signal.SIGTERM)
        assert sup.wait(90) == 0
        assert _children(sup.pid) == []
    finally:
        if sup.poll() is None:
            for k in _children(sup.pid):
                os.kill(k, signal.SIGKILL)
            sup.kill()
            sup.wait(30)
    text = log.read_text()
    assert "worker process 1 exited unexpectedly (status -9)" in text


def test_processes_must_be_positive(broker) -> None:
    s = settings_for(broker, "procs-bad")
    done = subprocess.run(streamproc_cmd("worker", "--processes", "0"), cwd=REPO,
                          env=worker_env(s), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "streamproc worker: error: --processes 0 is not a positive number; give 1 or more "
        "(one per core)"]
