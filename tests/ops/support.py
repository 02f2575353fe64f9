"""Shared helpers of the operations tests: paths, promtool, PromQL metric names, settings."""

from __future__ import annotations

import json
import os
import shutil
from functools import cache
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from engine.settings import ENV_PREFIX, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERT_TESTS = ROOT / "deploy" / "prometheus" / "alerts.test.yml"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "pulse.json"
RUNBOOK = ROOT / "docs" / "operations.md"

SETTINGS_VARIABLES = frozenset(ENV_PREFIX + name.upper() for name in Settings.model_fields)
"""Every PULSE_* variable a worker or the CLI reads as a setting."""

SYNTHETIC_METRICS = frozenset({"up"})
"""Series Prometheus makes for each target itself; no worker exports them."""

# What Grafana substitutes before a query reaches Prometheus.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def promtool() -> str:
    """The promtool `make test` installs (deploy/ops/tools.sh), else one on PATH; never skip."""
    local = Path(os.environ.get("PULSE_LOCAL_DIR", ROOT / ".pulse")) / "tools" / "bin" / "promtool"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            f"promtool is not installed ({local} nor on PATH); run `make tools` "
            "(bash deploy/ops/tools.sh), which `make test` does",
            pytrace=False,
        )
    return found


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects; every selector must name one."""
    names: set[str] = set()
    anonymous: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            else:
                anonymous.append(str(node))

    promql_parser.walk(promql_parser.parse(expr), visit)
    assert not anonymous, f"selectors without a metric name in {expr!r}: {anonymous}"
    return names


@cache
def alert_rules() -> tuple[dict[str, Any], ...]:
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return tuple(rule for group in document["groups"] for rule in group["rules"])


def alert_metric_names() -> dict[str, set[str]]:
    """Alert name -> the metric names its expression uses."""
    return {rule["alert"]: metric_names(rule["expr"]) for rule in alert_rules()}


@cache
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def panels() -> list[dict[str, Any]]:
    """Every panel, rows' nested panels included."""
    found: list[dict[str, Any]] = []
    for panel in dashboard()["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def grafana_to_promql(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL with Grafana's variables substituted) for every target."""
    return [
        (panel["title"], grafana_to_promql(target["expr"]))
        for panel in panels()
        for target in panel.get("targets", [])
    ]


def dashboard_metric_names() -> dict[str, set[str]]:
    """Panel title -> the metric names its queries use."""
    names: dict[str, set[str]] = {}
    for title, expr in dashboard_queries():
        names.setdefault(title, set()).update(metric_names(expr))
    return names


def load_pulse_settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Load settings exactly as a process whose only PULSE_* variables are ``env`` would."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings()
