"""Real Prometheus and Alertmanager processes for tests (Debian's `prometheus` and
`prometheus-alertmanager`), on free loopback ports with their data in a temp dir."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamproc.broker import free_port

from ..conftest import REPO, wait_until

PROMETHEUS_CONFIG = REPO / "deploy" / "prometheus.yml"
ALERT_RULES = REPO / "deploy" / "alert-rules.yml"
ALERTMANAGER_CONFIG = REPO / "deploy" / "alertmanager.yml"
READY_TIMEOUT_SECONDS = 30


def binary(*names: str) -> str:
    """The first of ``names`` on PATH; skipped when missing, except in CI where it fails."""
    for name in names:
        path = shutil.which(name)
        if path is not None:
            return path
    message = f"{' or '.join(names)} not installed (scripts/test.sh installs it with apt-get)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def get_json(url: str) -> Any:
    """The JSON body of a GET, also for 4xx answers (Prometheus explains errors in JSON)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


class Service:
    """A monitoring server as a child process; stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, args: list[str], port: int, log: Path) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        wait_until(self._ready, READY_TIMEOUT_SECONDS, f"{args[0]} ready (log: {log})")

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.proc.args[0]} exited: {self.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(self.base + "/-/ready", timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(15)


def start_alertmanager(workdir: Path) -> Service:
    """Alertmanager with the repository's config (routes and receivers as deployed)."""
    port = free_port()
    args = [binary("alertmanager", "prometheus-alertmanager"),
            f"--config.file={ALERTMANAGER_CONFIG}", f"--storage.path={workdir / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="]
    return Service(args, port, workdir / "alertmanager.log")


def start_prometheus(workdir: Path, target: str, alertmanager: str) -> Service:
    """Prometheus with the repository's config, scraping ``target`` every second.

    What the compose file resolves by DNS (workers, Alertmanager) becomes a static target;
    job names, rule files and everything else are deploy/prometheus.yml's.
    """
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    config["global"].update({"scrape_interval": "1s", "evaluation_interval": "1s"})
    config["rule_files"] = [str((PROMETHEUS_CONFIG.parent / f).resolve())
                            for f in config["rule_files"]]
    for job in config["scrape_configs"]:
        if job["job_name"] == "streamproc":
            job.pop("dns_sd_configs")
            job["static_configs"] = [{"targets": [target]}]
    config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [alertmanager]}]}]
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    args = [binary("prometheus"), f"--config.file={path}",
            f"--storage.tsdb.path={workdir / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{port}"]
    return Service(args, port, workdir / "prometheus.log")


def query(prometheus: Service, expr: str) -> dict[str, Any]:
    """An instant query's answer: ``status`` and ``data`` (or ``error``)."""
    return get_json(f"{prometheus.base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")


def start_prometheus_jobs(workdir: Path, jobs: list[dict[str, Any]]) -> Service:
    """Prometheus scraping every second with only ``jobs`` (scrape configs), no rules."""
    config = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
              "scrape_configs": jobs}
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    args = [binary("prometheus"), f"--config.file={path}",
            f"--storage.tsdb.path={workdir / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{port}"]
    return Service(args, port, workdir / "prometheus.log")


def targets(prometheus: Service) -> dict[str, dict[str, Any]]:
    """The active targets by job name (each job here scrapes one target)."""
    answer = get_json(f"{prometheus.base}/api/v1/targets?state=active")
    return {t["labels"]["job"]: t for t in answer["data"]["activeTargets"]}
