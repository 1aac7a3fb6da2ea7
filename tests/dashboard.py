"""The Grafana dashboard's queries, as Prometheus can run them (Grafana variables substituted)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "streamproc.json"

# Grafana's built-in interval variables, with values that suit a Prometheus scraping every
# second (Grafana's $__rate_interval is at least four scrape intervals).
BUILTINS = {"__rate_interval": "5s", "__interval": "2s", "__range": "5m"}
_VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")


def load() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel that shows data (rows excluded), nested ones included."""
    out = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            out += panel.get("panels", [])
        else:
            out.append(panel)
    return out


def variables(expr: str) -> set[str]:
    return {a or b for a, b in _VARIABLE.findall(expr)}


def promql(expr: str, dashboard: dict[str, Any]) -> str:
    """``expr`` with Grafana's variables replaced: every option of a dashboard variable
    (its "All" value, a regex), and the interval built-ins."""
    values = dict(BUILTINS)
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            values[var["name"]] = var.get("allValue") or ".*"

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"unknown Grafana variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(substitute, expr)


def queries(dashboard: dict[str, Any]) -> dict[str, list[str]]:
    """Panel title -> its queries, ready for Prometheus."""
    return {p["title"]: [promql(t["expr"], dashboard) for t in p["targets"]]
            for p in panels(dashboard)}
