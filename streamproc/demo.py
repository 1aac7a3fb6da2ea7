"""``streamproc demo``: embedded broker, a worker, a synthetic serving layer, live alerts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table

from .alert_text import change
from .broker import EmbeddedBroker, _port_open, free_port
from .client import EventProducer
from .errors import StreamprocError
from .synthetic import demo_models

__all__ = ["run_demo", "read_metrics", "wait_ready"]

# Tansu answers a new member's join after a fraction of its session timeout; the
# demo's worker uses a short one so it starts consuming within seconds.
_DEMO_SESSION_TIMEOUT_MS = 6000


def read_metrics(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Samples of a Prometheus endpoint: name -> [(labels, value)]."""
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def wait_ready(base_url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StreamprocError(f"the worker exited with code {proc.returncode} while starting")
        try:
            with urllib.request.urlopen(base_url + "/readyz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise StreamprocError(f"the worker was not ready within {timeout:.0f}s")


class _AlertPrinter(threading.Thread):
    """Read drift-alerts without a consumer group (no join delay) and print each alert."""

    def __init__(self, bootstrap: str, topic: str, console: Console, started: float) -> None:
        super().__init__(daemon=True, name="alert-printer")
        self.console = console
        self.started = started
        self.alerts: list[dict[str, Any]] = []
        self.stop_flag = threading.Event()
        self._consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": "streamproc-demo-printer",
            "enable.auto.commit": False, "log_level": 3,
        })
        meta = self._consumer.list_topics(topic, timeout=10).topics[topic]
        self._consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])

    def run(self) -> None:
        while not self.stop_flag.is_set():
            for msg in self._consumer.consume(100, 0.2):
                if msg.error():
                    continue
                alert = orjson.loads(msg.value())
                self.alerts.append(alert)
                feature = alert["feature"] or alert["signal"]
                self.console.print(
                    f"[bold red]ALERT[/] t={time.monotonic() - self.started:4.1f}s "
                    f"[bold]{alert['model_id']}[/] {alert['model_version']} "
                    f"[cyan]{feature}[/] ({alert['signal']}) "
                    f"[{_colour(alert['severity'])}]{alert['severity']}[/]: {change(alert)}",
                    highlight=False,
                )
        self._consumer.close()


def _colour(severity: str) -> str:
    return {"low": "green", "medium": "yellow", "high": "red", "critical": "bold red"}[severity]


def _start_worker(bootstrap: str, metrics_port: int, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update({
        "STREAMPROC_BROKER": bootstrap,
        "STREAMPROC_METRICS_PORT": str(metrics_port),
        "STREAMPROC_SESSION_TIMEOUT_MS": str(_DEMO_SESSION_TIMEOUT_MS),
        "STREAMPROC_CHECKPOINT_INTERVAL_SECONDS": "2",
    })
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "streamproc", "worker"], env=env, stdout=out,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )


def run_demo(
    duration: float = 45.0,
    seed: int = 7,
    metrics_port: int | None = 9464,
    broker_port: int | None = None,
    rate: float = 300.0,
) -> int:
    # Piped output (CI logs, `| tee`) gets lines wide enough for one alert each.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
    if duration <= 0 or rate <= 0:
        raise StreamprocError("--duration and --rate must be positive")
    per_model = int(duration * rate)
    models = demo_models(seed, per_model)
    shifted = next(m for m in models if m.shift_feature)
    workdir = Path(tempfile.mkdtemp(prefix="streamproc-demo-"))
    port = broker_port or free_port()
    if metrics_port is None or _port_open("127.0.0.1", metrics_port):
        metrics_port = free_port()
    base_url = f"http://127.0.0.1:{metrics_port}"

    console.print(
        f"[bold]streamproc demo[/]: {len(models)} models, 16 features, {duration:.0f}s of "
        f"synthetic traffic at {rate:.0f} events/s per model (seed {seed})"
    )
    broker = EmbeddedBroker(port, log_file=workdir / "broker.log").start()
    worker: subprocess.Popen[bytes] | None = None
    printer: _AlertPrinter | None = None
    try:
        console.print(f"  broker   {broker.bootstrap} (embedded Tansu, in memory)")
        worker = _start_worker(broker.bootstrap, metrics_port, workdir / "worker.log")
        console.print(f"  worker   metrics {base_url}/metrics  (log {workdir / 'worker.log'})")
        with console.status("waiting for the worker to join its consumer group..."):
            wait_ready(base_url, 60.0, worker)
        console.print(
            f"  drift    from event {shifted.shift_at} on, {shifted.model_id}'s "
            f"'{shifted.shift_feature}' grows by {shifted.shift_factor - 1:.0%} "
            "(an app release made sessions longer); every other feature stays stable"
        )
        started = time.monotonic()
        printer = _AlertPrinter(broker.bootstrap, "drift-alerts", console, started)
        printer.start()
        sent = _serve(models, per_model, rate, duration, broker.bootstrap, console, started)
        consumed = _wait_consumed(base_url, 2 * sent * len(models), 30.0)
        time.sleep(1.0)  # alerts of the last batch reach the printer
        printer.stop_flag.set()
        printer.join(5)
        _summary(console, models, sent, consumed, printer.alerts, base_url, workdir)
    finally:
        if printer is not None:
            printer.stop_flag.set()
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
        broker.stop()
    return 0


def _serve(
    models: list[Any], per_model: int, rate: float, duration: float, bootstrap: str,
    console: Console, started: float,
) -> int:
    """Send features and predictions at ``rate`` per model; return events sent per model."""
    sent = 0
    next_report = 5.0
    with EventProducer(bootstrap) as producer:
        while sent < per_model:
            elapsed = time.monotonic() - started
            due = min(per_model, int(elapsed * rate) + 1)
            if due > sent:
                for model in models:
                    for e in model.events(sent, due - sent):
                        event_id = f"{model.model_id}-{e.index}"
                        ts = time.time()
                        producer.send_features(model.model_id, model.version, event_id,
                                               e.features, ts)
                        producer.send_prediction(model.model_id, model.version, event_id,
                                                 e.prediction, timestamp=ts)
                sent = due
            if elapsed >= next_report:
                console.print(f"  t={elapsed:4.0f}s  {sent * len(models):,} events sent",
                              style="dim")
                next_report += 5.0
            time.sleep(0.02)
        producer.flush(30)
    return sent


def _wait_consumed(base_url: str, expected: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    consumed = 0
    while time.monotonic() < deadline:
        samples = read_metrics(base_url + "/metrics").get("streamproc_events_consumed_total", [])
        consumed = int(sum(v for _, v in samples))
        if consumed >= expected:
            break
        time.sleep(0.5)
    return consumed


def _summary(
    console: Console, models: list[Any], sent: int, consumed: int,
    alerts: list[dict[str, Any]], base_url: str, workdir: Path,
) -> None:
    metrics = read_metrics(base_url + "/metrics")
    invalid = int(sum(v for _, v in metrics.get("streamproc_events_invalid_total", [])))
    console.print()
    console.print(
        f"[bold]Summary[/]: {sent * len(models) * 2:,} events sent (features + predictions), "
        f"{consumed:,} processed by the worker, {invalid} rejected, {len(alerts)} alert(s)"
    )
    table = Table("model", "signal", "feature", "detector", "alerts", "first detected at event")
    counts = Counter(
        (a["model_id"], a["signal"], a["feature"] or "-", a["detector"]) for a in alerts
    )
    first = {}
    for a in alerts:
        first.setdefault((a["model_id"], a["signal"], a["feature"] or "-", a["detector"]),
                         a["position"])
    for key, n in sorted(counts.items()):
        table.add_row(*key, str(n), str(first[key]))
    for model in models:
        if not any(a["model_id"] == model.model_id for a in alerts):
            table.add_row(model.model_id, "-", "-", "-", "0", "(no drift, no alert)")
    console.print(table)
    console.print(f"metrics served at {base_url}/metrics ; logs in {workdir}")
