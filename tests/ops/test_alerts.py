"""The Prometheus alert rules: promtool's checks and unit tests, and the runbook they cite.

promtool comes from deploy/ops/tools.sh (`make test` runs it); a missing promtool is a
failure, not a skip.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from tests.ops.support import (
    ALERT_TESTS,
    ALERTS,
    PROMETHEUS_CONFIG,
    RUNBOOK,
    alert_metric_names,
    alert_rules,
    promtool,
)

# The situations the operations issue asks alerts for.
REQUIRED_ALERTS = {
    "PulseConsumerLagGrowing",
    "PulseDeadLetterRateHigh",
    "PulseNoTriggers",
    "PulseWorkerDown",
    "PulseRecoveryStuck",
    "PulseRedisViewErrors",
    "PulseRuleDismissedOften",
    "PulseTriggerLatencyHigh",
}


def run_promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False
    )


def test_promtool_accepts_the_rules() -> None:
    result = run_promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def test_alert_unit_tests_pass() -> None:
    result = run_promtool("test", "rules", str(ALERT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_unit_tests_catch_a_changed_threshold(tmp_path: Path) -> None:
    """The tests pin the rules: a latency target moved from 100 ms to 300 ms fails them."""
    text = ALERTS.read_text(encoding="utf-8")
    target = "_bucket[30m]))) > 0.1"
    assert text.count(target) == 1
    (tmp_path / "alerts.yml").write_text(text.replace(target, target.replace("0.1", "0.3")))
    (tmp_path / "alerts.test.yml").write_text(ALERT_TESTS.read_text(encoding="utf-8"))
    result = run_promtool("test", "rules", "alerts.test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "PulseTriggerLatencyHigh" in result.stdout + result.stderr


def test_the_compose_prometheus_config_is_valid() -> None:
    result = run_promtool("check", "config", str(PROMETHEUS_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_required_alert_exists_and_each_has_a_firing_unit_test() -> None:
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names)), "duplicate alert names"
    assert set(names) >= REQUIRED_ALERTS, f"missing: {sorted(REQUIRED_ALERTS - set(names))}"
    cases = yaml.safe_load(ALERT_TESTS.read_text(encoding="utf-8"))["tests"]
    fired = {
        check["alertname"]
        for case in cases
        for check in case.get("alert_rule_test", [])
        if check.get("exp_alerts")
    }
    quiet = {
        check["alertname"]
        for case in cases
        for check in case.get("alert_rule_test", [])
        if not check.get("exp_alerts")
    }
    assert set(names) <= fired, f"never shown to fire: {sorted(set(names) - fired)}"
    assert set(names) <= quiet, f"never shown to stay quiet: {sorted(set(names) - quiet)}"


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors."""
    found = set()
    for line in markdown.splitlines():
        match = re.match(r"#{1,6}\s+(.*)", line)
        if match:
            slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
            found.add(slug)
    return found


def test_every_alert_is_labelled_and_has_a_runbook_section() -> None:
    runbook = RUNBOOK.read_text(encoding="utf-8")
    sections = anchors(runbook)
    for rule in alert_rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        annotations = rule["annotations"]
        assert annotations["summary"], name
        assert annotations["description"], name
        path, _, anchor = annotations["runbook"].partition("#")
        assert path == "docs/operations.md", name
        assert anchor in sections, f"{name}: no section #{anchor} in docs/operations.md"
    for link in re.findall(r"\]\(#([^)]+)\)", runbook):
        assert link in sections, f"docs/operations.md links to a missing section #{link}"


def test_alerts_use_pulse_metrics_only() -> None:
    """faust's own metrics are named after the app id, which differs per deployment."""
    for name, metrics in alert_metric_names().items():
        for metric in metrics:
            assert metric.startswith("pulse_") or metric == "up", f"{name} uses {metric}"
