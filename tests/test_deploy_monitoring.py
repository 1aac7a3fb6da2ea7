"""Static checks of the monitoring stack in docker-compose.yml: Alertmanager and Grafana.

No Docker engine and no Grafana are needed: files are parsed, Alertmanager's config and
routes are checked with amtool, every dashboard query is parsed by promtool, and the new
alerting rules are unit-tested with `promtool test rules`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from . import dashboard
from .test_deploy_files import (
    ALERT_RULES,
    COMPOSE,
    PROMETHEUS_CONFIG,
    REPO,
    _firing,
    _promtool,
    _run,
    _series,
    _volume_targets,
)

ALERTMANAGER_CONFIG = REPO / "deploy" / "alertmanager.yml"
GRAFANA = REPO / "deploy" / "grafana"
GRAFANA_BUILTINS = {"__rate_interval", "__interval", "__range"}


def _amtool() -> str:
    path = shutil.which("amtool")
    if path is None:
        message = "amtool not found (Debian package `prometheus-alertmanager`)"
        if os.environ.get("CI"):
            pytest.fail(message + "; scripts/test.sh installs it")
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def _rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(ALERT_RULES.read_text())["groups"]
            for rule in group["rules"]]


# -- Alertmanager ----------------------------------------------------------------------------------
def test_amtool_checks_the_config() -> None:
    result = _run([_amtool(), "check-config", str(ALERTMANAGER_CONFIG)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rule_is_routed_by_its_severity() -> None:
    amtool = _amtool()
    for rule in _rules():
        labels = [f"alertname={rule['alert']}", f"severity={rule['labels']['severity']}"]
        result = _run([amtool, "config", "routes", "test",
                       f"--config.file={ALERTMANAGER_CONFIG}", *labels])
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"streamproc-{rule['labels']['severity']}", rule["alert"]


def test_inhibitions_name_existing_rules() -> None:
    names = {rule["alert"] for rule in _rules()}
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    for inhibit in config["inhibit_rules"]:
        for matcher in inhibit["source_matchers"] + inhibit["target_matchers"]:
            key, _, value = matcher.partition("=")
            if key.rstrip("=~") == "alertname":
                for name in value.strip('~"').split("|"):
                    assert name in names, f"inhibit rule names unknown alert {name}"


def test_alertmanager_service_mounts_its_config(services: dict[str, dict[str, Any]]) -> None:
    am = services["alertmanager"]
    assert am["image"].startswith("prom/alertmanager:")
    target = next(a.split("=", 1)[1] for a in am["command"] if a.startswith("--config.file="))
    assert (REPO / _volume_targets(am)[target]).resolve() == ALERTMANAGER_CONFIG
    assert any(str(p).endswith(":9093") for p in am["ports"])
    assert "alertmanager" in services["prometheus"]["depends_on"]


def test_prometheus_sends_alerts_to_the_compose_alertmanager() -> None:
    (manager,) = yaml.safe_load(PROMETHEUS_CONFIG.read_text())["alerting"]["alertmanagers"]
    assert manager["static_configs"] == [{"targets": ["alertmanager:9093"]}]


# -- Grafana ---------------------------------------------------------------------------------------
def test_grafana_service_provisions_the_datasource_and_dashboards(
    services: dict[str, dict[str, Any]],
) -> None:
    grafana = services["grafana"]
    assert grafana["image"].startswith("grafana/grafana:")
    mounts = _volume_targets(grafana)
    assert (REPO / mounts["/etc/grafana/provisioning"]).resolve() == GRAFANA / "provisioning"
    (provider,) = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "streamproc.yml").read_text())["providers"]
    assert provider["type"] == "file"
    assert (REPO / mounts[provider["options"]["path"]]).resolve() == GRAFANA / "dashboards"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == provider["options"]["path"] + "/" + dashboard.DASHBOARD.name


def test_the_datasource_is_the_compose_prometheus() -> None:
    files = sorted((GRAFANA / "provisioning" / "datasources").glob("*.yml"))
    assert files, "no datasource provisioning file"
    (source,) = [d for f in files for d in yaml.safe_load(f.read_text())["datasources"]]
    assert (source["type"], source["url"], source["access"]) == (
        "prometheus", "http://prometheus:9090", "proxy")
    scrape = yaml.safe_load(PROMETHEUS_CONFIG.read_text())["global"]["scrape_interval"]
    assert source["jsonData"]["timeInterval"] == scrape
    (var,) = [v for v in dashboard.load()["templating"]["list"] if v["type"] == "datasource"]
    assert var["current"]["value"] == source["uid"] and var["query"] == "prometheus"


def test_every_panel_has_a_datasource_and_queries() -> None:
    board = dashboard.load()
    assert board["uid"] == "streamproc" and isinstance(board["schemaVersion"], int)
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    panels = dashboard.panels(board)
    titles = [p["title"] for p in panels]
    assert len(titles) == len(set(titles)), "panel titles name the panels in the tests"
    defined = {v["name"] for v in board["templating"]["list"]} | GRAFANA_BUILTINS
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        x, width = panel["gridPos"]["x"], panel["gridPos"]["w"]
        assert x >= 0 and x + width <= 24, panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip() and target["refId"], panel["title"]
            assert dashboard.variables(target["expr"]) <= defined, panel["title"]


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    """Each query becomes a recording rule: `promtool check rules` parses it."""
    rules = [{"record": f"dashboard:query_{i}", "expr": expr}
             for i, expr in enumerate(e for exprs in dashboard.queries(dashboard.load()).values()
                                      for e in exprs)]
    spec = tmp_path / "dashboard-queries.yml"
    spec.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = _run([_promtool(), "check", "rules", str(spec)])
    assert result.returncode == 0, result.stdout + result.stderr


# -- the operations rules --------------------------------------------------------------------------
def test_lag_and_webhook_alerts_fire_on_synthetic_series(tmp_path: Path) -> None:
    w1 = {"job": "streamproc", "instance": "w1:9464"}
    lag = "streamproc_consumer_lag_messages"
    age, deliveries = ("streamproc_webhook_oldest_pending_age_seconds",
                       "streamproc_webhook_deliveries_total")
    tests = [
        {  # Lag: one partition stays above 100k for 10 min, another dips below.
            "interval": "1m",
            "input_series": [
                _series(lag, "200000x30", topic="features", partition="0", **w1),
                _series(lag, "200000x5 0 200000x20", topic="features", partition="1", **w1),
            ],
            "promql_expr_test": [
                _firing("8m", "StreamprocConsumerLag", "partition"),
                _firing("12m", "StreamprocConsumerLag", "partition", "0"),
            ],
        },
        {  # Webhooks: "pager" stuck on one alert since minute 0; "audit" refuses one alert.
            "interval": "1m",
            "input_series": [
                _series(age, "0+60x30", webhook="pager", **w1),
                _series(age, "0x30", webhook="audit", **w1),
                _series(deliveries, "0x10 1x20", webhook="audit", outcome="rejected", **w1),
                _series(deliveries, "0+1x30", webhook="pager", outcome="delivered", **w1),
            ],
            "promql_expr_test": [
                _firing("9m", "StreamprocWebhookStuck", "webhook"),
                _firing("17m", "StreamprocWebhookStuck", "webhook", "pager"),
                _firing("9m", "StreamprocWebhookRejected", "webhook"),
                _firing("12m", "StreamprocWebhookRejected", "webhook", "audit"),
                _firing("25m", "StreamprocWebhookRejected", "webhook"),
            ],
        },
    ]
    spec = tmp_path / "ops-rules.test.yml"
    spec.write_text(yaml.safe_dump(
        {"rule_files": [str(ALERT_RULES)], "evaluation_interval": "1m", "tests": tests}
    ))
    result = _run([_promtool(), "test", "rules", str(spec)])
    assert result.returncode == 0, result.stdout + result.stderr
