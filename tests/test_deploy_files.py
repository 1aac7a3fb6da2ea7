"""Static checks of the container and monitoring files: Dockerfile, docker-compose.yml, deploy/.

No Docker engine is needed: the compose file is read with PyYAML, the Prometheus config
and alert rules are checked (and the alerts unit-tested on synthetic series) with promtool.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from streamproc.metrics import WorkerMetrics
from streamproc.webhooks.metrics import WebhookMetrics

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
PROMETHEUS_CONFIG = REPO / "deploy" / "prometheus.yml"
ALERT_RULES = REPO / "deploy" / "alert-rules.yml"
WORKER = "streamproc-worker"


# -- helpers ------------------------------------------------------------------------------------
def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        message = "promtool not found (Debian package `prometheus`; scripts/test.sh installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def _run(args: list[str], cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)


def _env(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, whether written as a mapping or as a KEY=VALUE list."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def _healthcheck_command(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(str(part) for part in test)


def _volume_targets(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> host source of a service's bind mounts (short or long syntax)."""
    mounts: dict[str, str] = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume["target"]
        mounts[target] = source
    return mounts


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    pairs: list[tuple[str, str]] = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def _dockerfile(keyword: str) -> list[str]:
    return [rest for kw, rest in _dockerfile_instructions() if kw == keyword]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


# -- docker-compose.yml -------------------------------------------------------------------------
def test_compose_has_the_five_services(compose: dict[str, Any]) -> None:
    assert "version" not in compose, "the compose spec has no `version:` key"
    assert {"kafka", WORKER, "prometheus", "alertmanager", "grafana"} <= set(compose["services"])


def test_kafka_is_a_single_kraft_node(services: dict[str, dict[str, Any]]) -> None:
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = _env(kafka)
    assert "controller" in env["KAFKA_PROCESS_ROLES"].split(",")
    assert "broker" in env["KAFKA_PROCESS_ROLES"].split(",")
    node_id = env["KAFKA_NODE_ID"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{node_id}@kafka:9093"
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    listeners = env["KAFKA_LISTENERS"].split(",")
    advertised = env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert f"{controller}://:9093" in listeners
    assert "PLAINTEXT://kafka:9092" in advertised
    assert "EXTERNAL://localhost:29092" in advertised
    protocol_map = env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
    protocols = dict(item.split(":") for item in protocol_map.split(","))
    named = {listener.split("://")[0] for listener in listeners + advertised}
    assert named <= set(protocols), "every listener needs a security protocol"
    # A single broker cannot host internal topics with the default replication of 3.
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "1"
    assert any(port.endswith(":29092") for port in kafka["ports"])
    assert "kafka-broker-api-versions.sh --bootstrap-server localhost:9092" in (
        _healthcheck_command(kafka)
    )


def test_worker_builds_the_image_and_talks_to_kafka(services: dict[str, dict[str, Any]]) -> None:
    worker = services[WORKER]
    build = worker["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (REPO / context / dockerfile).resolve() == DOCKERFILE
    env = _env(worker)
    assert env["STREAMPROC_BROKER"] == "kafka:9092"
    assert env["STREAMPROC_METRICS_HOST"] == "0.0.0.0"
    assert int(env["STREAMPROC_PARTITIONS"]) >= 1
    assert worker["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert "/readyz" in _healthcheck_command(worker)
    grace = worker["stop_grace_period"]
    assert grace.endswith("s") and int(grace[:-1]) >= 25, "SIGTERM checkpointing takes ~20 s"


def test_worker_can_be_scaled(services: dict[str, dict[str, Any]]) -> None:
    """A fixed host port would let only one replica of `--scale streamproc-worker=N` start."""
    for port in services[WORKER].get("ports", []):
        parts = str(port).split(":")
        host_port = parts[-2] if len(parts) >= 2 else ""
        assert host_port == "", f"fixed host port {port!r} breaks --scale"


def test_prometheus_mounts_its_config_and_rules(services: dict[str, dict[str, Any]]) -> None:
    prometheus = services["prometheus"]
    assert prometheus["image"].startswith("prom/prometheus:")
    mounts = _volume_targets(prometheus)
    config = mounts["/etc/prometheus/prometheus.yml"]
    assert (REPO / config).resolve() == PROMETHEUS_CONFIG
    # prometheus.yml names its rule file relative to itself: it must sit beside it.
    for rule_file in yaml.safe_load(PROMETHEUS_CONFIG.read_text())["rule_files"]:
        source = mounts[f"/etc/prometheus/{rule_file}"]
        assert (REPO / source).resolve() == (PROMETHEUS_CONFIG.parent / rule_file).resolve()


def test_prometheus_discovers_every_worker(services: dict[str, dict[str, Any]]) -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    assert config["global"]["scrape_interval"] == "15s"
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "streamproc"]
    (dns,) = job["dns_sd_configs"]
    assert dns["names"] == [WORKER] and dns["type"] == "A"
    assert dns["port"] == int(_env(services[WORKER]).get("STREAMPROC_METRICS_PORT", "9464"))


def test_compose_config_if_a_compose_cli_is_installed() -> None:
    """`docker compose config` (or the old `docker-compose config`) needs no engine."""
    if shutil.which("docker") and _run(["docker", "compose", "version"]).returncode == 0:
        command = ["docker", "compose"]
    elif shutil.which("docker-compose"):
        command = ["docker-compose"]
    else:
        pytest.skip("no docker compose CLI installed")
    result = _run([*command, "-f", str(COMPOSE), "config", "-q"])
    assert result.returncode == 0, result.stderr


# -- Prometheus config and alert rules ------------------------------------------------------------
def test_promtool_checks_the_config() -> None:
    result = _run([_promtool(), "check", "config", str(PROMETHEUS_CONFIG)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_checks_the_rules() -> None:
    result = _run([_promtool(), "check", "rules", str(ALERT_RULES)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_use_metrics_the_worker_exports() -> None:
    metrics = WorkerMetrics(CollectorRegistry())
    # Keyword labels: a renamed label fails here, as it would break the rules' `by (...)`.
    metrics.alerts.labels(model_id="m", signal="feature", feature="f", detector="adwin").inc()
    metrics.events_invalid.labels(topic="features", reason="schema").inc()
    metrics.events_consumed.labels(model_id="m", topic="features").inc()
    metrics.last_event.labels(model_id="m", topic="features").set(1.0)
    metrics.delivery_failures.labels(topic="drift-alerts", error="timeout").inc()
    metrics.consumer_lag.labels(topic="features", partition="0").set(0)
    WebhookMetrics(metrics.registry).prepare("hook")
    exported = {
        sample.name
        for family in text_string_to_metric_families(generate_latest(metrics.registry).decode())
        for sample in family.samples
    }
    rules = yaml.safe_load(ALERT_RULES.read_text())
    used = {
        name
        for group in rules["groups"]
        for rule in group["rules"]
        for name in re.findall(r"\bstreamproc_[a-z_]+", rule["expr"])
    }
    assert used, "the rules should watch streamproc metrics"
    assert used <= exported, f"not exported by the worker: {sorted(used - exported)}"
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert rule["alert"].startswith("Streamproc")
            assert "for" in rule and rule["labels"]["severity"] in {"warning", "critical"}
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def _series(name: str, values: str, **labels: str) -> dict[str, str]:
    body = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    return {"series": f"{name}{{{body}}}", "values": values}


def _firing(eval_time: str, alertname: str, by: str, *expected: str) -> dict[str, Any]:
    """Which values of label `by` the alert fires for at eval_time."""
    return {
        "expr": f'count by ({by}) (ALERTS{{alertname="{alertname}", alertstate="firing"}})',
        "eval_time": eval_time,
        "exp_samples": [{"labels": f'{{{by}="{value}"}}', "value": 1} for value in expected],
    }


def test_alerts_fire_on_synthetic_series(tmp_path: Path) -> None:
    """promtool's rule unit tests: each alert fires when it should, and only then."""
    w1 = {"job": "streamproc", "instance": "w1:9464"}
    w2 = {"job": "streamproc", "instance": "w2:9464"}
    drift = "streamproc_drift_alerts_total"
    det = {"signal": "feature", "feature": "age", "detector": "adwin"}
    last = "streamproc_last_event_timestamp_seconds"
    invalid, consumed = "streamproc_events_invalid_total", "streamproc_events_consumed_total"
    tests = [
        {  # Drift: a first alert (series born at 1), a later one, and an old steady count.
            "interval": "1m",
            "input_series": [
                _series(drift, "_x5 1x40", model_id="new", **det, **w1),
                _series(drift, "1x19 2x25", model_id="again", **det, **w1),
                _series(drift, "3x45", model_id="steady", **det, **w2),
            ],
            "promql_expr_test": [
                _firing("12m", "StreamprocDriftDetected", "model_id", "new"),
                _firing("22m", "StreamprocDriftDetected", "model_id", "again"),
                _firing("35m", "StreamprocDriftDetected", "model_id"),
            ],
        },
        {  # Silence: event time keeps pace with the clock, or stops at 10 min.
            "interval": "1m",
            "input_series": [
                _series(last, "0+60x40", model_id="live", topic="features", **w1),
                _series(last, "0+60x10 600x30", model_id="quiet", topic="features", **w1),
            ],
            "promql_expr_test": [
                _firing("24m", "StreamprocModelSilent", "model_id"),
                _firing("30m", "StreamprocModelSilent", "model_id", "quiet"),
            ],
        },
        {  # Invalid share: 9 % on features, 100 % on labels (nothing valid), 0.01 % else.
            "interval": "1m",
            "input_series": [
                _series(invalid, "0+60x30", topic="features", reason="schema", **w1),
                _series(consumed, "0+600x30", topic="features", model_id="m", **w1),
                _series(invalid, "0+60x30", topic="labels", reason="json", **w1),
                _series(invalid, "0+1x30", topic="predictions", reason="schema", **w1),
                _series(consumed, "0+6000x30", topic="predictions", model_id="m", **w1),
            ],
            "promql_expr_test": [
                _firing("10m", "StreamprocInvalidEvents", "topic"),
                _firing("25m", "StreamprocInvalidEvents", "topic", "features", "labels"),
            ],
        },
        {  # Worker health: w2 stops answering, w1 pauses a partition and cannot deliver.
            "interval": "1m",
            "input_series": [
                _series("up", "1x20", **w1),
                _series("up", "1x5 0x15", **w2),
                _series("streamproc_partitions_failed", "0x5 1x15", **w1),
                _series("streamproc_partitions_failed", "0x20", **w2),
                _series("streamproc_delivery_failures_total", "0+5x20", topic="drift-alerts",
                        error="timeout", **w1),
            ],
            "promql_expr_test": [
                _firing("4m", "StreamprocWorkerDown", "instance"),
                _firing("10m", "StreamprocWorkerDown", "instance", "w2:9464"),
                _firing("10m", "StreamprocPartitionsFailed", "instance", "w1:9464"),
                _firing("15m", "StreamprocDeliveryFailures", "topic", "drift-alerts"),
                _firing("15m", "StreamprocNoWorkers", "job"),
            ],
        },
        {  # No worker at all: service discovery finds no target, so there is no `up`.
            "interval": "1m",
            "input_series": [_series("up", "1x10", job="prometheus", instance="localhost:9090")],
            "promql_expr_test": [
                _firing("3m", "StreamprocNoWorkers", "job"),
                _firing("7m", "StreamprocNoWorkers", "job", "streamproc"),
            ],
        },
    ]
    spec = tmp_path / "alert-rules.test.yml"
    spec.write_text(yaml.safe_dump(
        {"rule_files": [str(ALERT_RULES)], "evaluation_interval": "1m", "tests": tests}
    ))
    result = _run([_promtool(), "test", "rules", str(spec)])
    assert result.returncode == 0, result.stdout + result.stderr


# -- Dockerfile and .dockerignore -----------------------------------------------------------------
def test_dockerfile_runs_the_worker_as_non_root() -> None:
    assert _dockerfile("FROM")[0].startswith("python:3.11-slim")
    assert json.loads(_dockerfile("ENTRYPOINT")[-1]) == ["streamproc"]
    assert json.loads(_dockerfile("CMD")[-1]) == ["worker"]
    user = _dockerfile("USER")[-1]
    assert user not in {"root", "0"}
    assert "9464" in _dockerfile("EXPOSE")[-1].split()
    assert _dockerfile("STOPSIGNAL") == ["SIGTERM"]
    assert any("STREAMPROC_METRICS_HOST=0.0.0.0" in env for env in _dockerfile("ENV"))
    (healthcheck,) = _dockerfile("HEALTHCHECK")
    assert "/livez" in healthcheck and "python" in healthcheck


def test_dockerfile_copies_what_the_wheel_needs() -> None:
    copied = [arg for rest in _dockerfile("COPY") for arg in rest.split()[:-1]]
    assert {"pyproject.toml", "README.md", "streamproc/", "schemas/"} <= set(copied)
    for source in copied:
        assert (REPO / source).exists(), f"COPY source {source} is missing"
    assert any("pip install --no-cache-dir" in run for run in _dockerfile("RUN"))


def test_dockerignore_keeps_the_build_context_small() -> None:
    ignored = {
        line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "tests", "backtest-output"} <= ignored
    assert not ignored & {"pyproject.toml", "README.md", "streamproc", "schemas"}
