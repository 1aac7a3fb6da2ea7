"""End-to-end throughput of the two worker engines: a helper of transport.py.

Each run starts a real ``streamproc worker`` subprocess (``--engine librdkafka`` or
``--engine faust``) in a fresh consumer group, with its own output and state topics,
on the feature events transport.py produced. The worker decodes, validates and feeds
every event through detection; the rate is read from its own
``streamproc_events_consumed_total`` counter on ``/metrics``, polled every 50 ms:

    rate = (count at the end - count at the first non-zero sample)
           / (time of the end - time of that sample)

so the group join, topic creation and the first batch are left out, as in the raw
comparison. The end is the first sample with every event counted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ENGINES", "Engine", "run_engine"]

REPO = Path(__file__).resolve().parents[1]
POLL_SECONDS = 0.05
COUNTER = "streamproc_events_consumed_total{"


@dataclass(frozen=True)
class Engine:
    key: str
    label: str
    method: str


ENGINES = (
    Engine("librdkafka", "streamproc worker", "`--engine librdkafka` (default)"),
    Engine("faust", "streamproc worker", "`--engine faust` (a Faust app's agent)"),
)


def _consumed(url: str) -> float | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            text = resp.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return None
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(COUNTER))


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def run_engine(
    engine: str, bootstrap: str, topic: str, messages: int, timeout: float, workdir: Path,
    port: int, session_timeout_ms: int,
) -> tuple[dict[str, Any] | None, str]:
    """Run one engine over ``messages`` feature events of ``topic``; (result, failure)."""
    tag = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "STREAMPROC_BROKER": bootstrap,
        "STREAMPROC_ENGINE": engine,
        "STREAMPROC_GROUP_ID": f"bench-{engine}-{tag}",
        "STREAMPROC_FEATURES_TOPIC": topic,
        "STREAMPROC_PREDICTIONS_TOPIC": f"bench-predictions-{tag}",
        "STREAMPROC_LABELS_TOPIC": f"bench-labels-{tag}",
        "STREAMPROC_ALERTS_TOPIC": f"bench-alerts-{tag}",
        "STREAMPROC_DEAD_LETTER_TOPIC": f"bench-dlq-{tag}",
        "STREAMPROC_STATE_TOPIC": f"bench-state-{tag}",
        "STREAMPROC_METRICS_PORT": str(port),
        "STREAMPROC_SESSION_TIMEOUT_MS": str(session_timeout_ms),
        "STREAMPROC_LOG_LEVEL": "warning",
    }
    url = f"http://127.0.0.1:{port}/metrics"
    log = workdir / f"{engine}-{tag}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamproc", "worker"], cwd=REPO, env=env,
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    first: tuple[float, float] | None = None
    count = 0.0
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return None, f"exited with code {proc.returncode}: {_tail(log)}"
            now, sample = time.perf_counter(), _consumed(url)
            if sample:
                count = sample
                if first is None:
                    first = (now, sample)
                if sample >= messages:
                    break
            time.sleep(POLL_SECONDS)
        else:
            return None, f"timed out after {timeout:.0f} s ({count:,.0f}/{messages:,})"
    finally:
        _stop(proc)
    assert first is not None
    t0, c0 = first
    elapsed = now - t0
    rate = (count - c0) / elapsed if elapsed > 0 else float("nan")
    return {"rate": rate, "events": count, "first_sample": c0, "seconds": elapsed}, ""


def _tail(log: Path) -> str:
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1].strip()[:160] if lines else "(no output)"
