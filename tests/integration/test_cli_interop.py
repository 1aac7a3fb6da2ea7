"""As a new user would: `streamproc broker`, `streamproc worker`, events from kcat, the demo."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest

from streamproc.broker import free_port

from ..conftest import REPO, kcat_command, run_cli, streamproc_cmd, wait_until

pytestmark = pytest.mark.integration


def _kcat() -> tuple[list[str], dict[str, str]]:
    found = kcat_command()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("kcat is not installed; .ci/run installs it")
        pytest.skip("kcat not installed")
    return found


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status
    except (urllib.error.HTTPError) as exc:
        return exc.code
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0


def _events(model: str, n: int, shift_at: int | None, seed: int) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        shift = 1.0 if shift_at is not None and i >= shift_at else 0.0
        event = {
            "model_id": model, "model_version": "2026-11", "event_id": f"{model}-{i}",
            "timestamp": f"2026-11-27T10:{i // 6000:02d}:{(i // 100) % 60:02d}.{i % 100:02d}Z",
            "features": {"x": round(rng.gauss(shift, 1), 5), "y": round(rng.gauss(5, 2), 5),
                         "country": rng.choice(["fr", "de", "it"])},
        }
        lines.append(f"{model}\t{orjson.dumps(event).decode()}")
    return lines


def test_kcat_events_in_kcat_alerts_out(tmp_path: Path) -> None:
    kcat, kenv = _kcat()
    port, metrics_port = free_port(), free_port()
    bootstrap = f"127.0.0.1:{port}"
    broker = subprocess.Popen(streamproc_cmd("broker", "--port", str(port)), cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    worker = None
    try:
        assert broker.stdout is not None
        banner = broker.stdout.readline() + broker.stdout.readline()
        assert f"bootstrap address: {bootstrap}" in banner
        env = {**os.environ, "STREAMPROC_SESSION_TIMEOUT_MS": "6000",
               "STREAMPROC_PARTITIONS": "2", "STREAMPROC_DETECTION__REFERENCE_SIZE": "500"}
        with open(tmp_path / "w.log", "wb") as log:
            worker = subprocess.Popen(
                streamproc_cmd("worker", "--broker", bootstrap, "--metrics-port",
                               str(metrics_port)),
                cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log)
        base = f"http://127.0.0.1:{metrics_port}"
        wait_until(lambda: _status(base + "/readyz") == 200, 60, "worker ready")

        lines = _events("kc-drift", 4000, 2000, seed=1) + _events("kc-stable", 4000, None, seed=2)
        data = tmp_path / "events.txt"
        data.write_text("\n".join(lines) + "\n")
        produced = subprocess.run([*kcat, "-b", bootstrap, "-P", "-t", "features", "-K", "\t",
                                   "-l", str(data)], env=kenv, capture_output=True, text=True,
                                  timeout=60)
        assert produced.returncode == 0, produced.stderr

        def consumed() -> bool:
            with urllib.request.urlopen(base + "/metrics", timeout=5) as resp:
                text = resp.read().decode()
            total = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                        if line.startswith("streamproc_events_consumed_total{"))
            return total == 8000

        wait_until(consumed, 60, "8000 events consumed")
        time.sleep(1.5)  # one checkpoint interval: alerts are flushed by now
        read = subprocess.run([*kcat, "-b", bootstrap, "-C", "-t", "drift-alerts", "-e", "-q"],
                              env=kenv, capture_output=True, text=True, timeout=60)
        assert read.returncode == 0, read.stderr
        alerts = [orjson.loads(line) for line in read.stdout.splitlines() if line.strip()]
        assert {(a["model_id"], a["feature"]) for a in alerts} == {("kc-drift", "x")}
        assert all(a["position"] >= 2000 for a in alerts)

        worker.send_signal(signal.SIGTERM)
        assert worker.wait(40) == 0
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
        broker.send_signal(signal.SIGTERM)
        out, _ = broker.communicate(timeout=20)
    assert broker.returncode == 0 and "streamproc broker: stopped" in out


def test_demo_alerts_on_the_shifted_feature_only() -> None:
    result = run_cli("demo", "--duration", "20", "--metrics-port", str(free_port()),
                     timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    alert_lines = [line for line in result.stdout.splitlines() if line.startswith("ALERT")]
    assert len(alert_lines) == 1 and "churn-model" in alert_lines[0]
    assert "avg_session_minutes" in alert_lines[0]
    assert "24,000 processed by the worker, 0 rejected, 1 alert(s)" in result.stdout
    assert "fraud-detector" in result.stdout and "(no drift, no alert)" in result.stdout
