"""`pulse tune` as a user runs it: a history in, a trade-off table and a rules file out."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import yaml

from engine.simulator import CORE_FEATURES, Simulation, SimulationConfig
from engine.simulator.writers import write_replay

CONFIG = "usage:\n  core_features: [" + ", ".join(CORE_FEATURES) + "]\n"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tune")
    with (folder / "events.jsonl").open("wb") as out:
        write_replay(Simulation(SimulationConfig(accounts=80, days=90, seed=5)).records(), out)
    (folder / "signals.yaml").write_text(CONFIG)
    return folder


def tune(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "engine.cli", "tune", "events.jsonl"]
    return subprocess.run(
        [*command, "--config", "signals.yaml", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_chosen_setting_replays_to_the_figures_its_row_promised(history: Path) -> None:
    """The sweep scores every setting from one replay; the file it writes, replayed on
    its own, must give that row's figures exactly, or the table is not to be trusted."""
    result = tune(
        history,
        "--rule",
        "usage_decline",
        "--only",
        "usage_drop_z",
        "--budget",
        "15",
        "--out",
        "tuned.yaml",
        "--json",
        "rows.json",
        "--no-progress",
    )

    assert result.returncode == 0, result.stderr
    chosen = [line for line in result.stdout.splitlines() if line.startswith("* ")]
    assert len(chosen) == 1, result.stdout
    label = re.split(r"\s{2,}", chosen[0][2:])[0]
    rows = {row["setting"]: row for row in orjson.loads((history / "rows.json").read_bytes())}
    assert "as is" in rows
    assert label in rows
    promised = rows[label]
    checked = re.search(
        r"checked by a replay with that file: recall (\S+), >=30d (\S+), lift (\S+), "
        r"(\S+) alerts per 100 accounts per 30 days",
        result.stdout,
    )
    assert checked is not None, result.stdout
    assert float(checked[4]) == pytest.approx(promised["alerts_per_100_accounts_30d"], abs=0.05)
    assert float(checked[4]) <= 15
    assert checked[1] == f"{promised['recall']:.0%}"
    written = yaml.safe_load((history / "tuned.yaml").read_text())
    assert written["extends"] == "defaults"
    assert [rule["id"] for rule in written["rules"]] == ["usage_decline"]
    if label not in ("as is", "off"):  # a moved threshold is named where a CSM reads it
        assert written["rules"][0]["description"].endswith(f"[tuned: {label}]")
    assert "median lead" in result.stdout.splitlines()[0]
    assert f"wrote tuned.yaml: {label}" in result.stdout


def test_an_unknown_rule_is_one_clear_error(history: Path) -> None:
    result = tune(history, "--rule", "no_such_rule")
    assert result.returncode == 2
    assert "pulse tune: error: no rule 'no_such_rule' (rules: " in result.stderr


def test_out_without_a_budget_and_a_zero_horizon_are_refused(history: Path) -> None:
    result = tune(history, "--rule", "usage_decline", "--out", "never.yaml")
    assert result.returncode == 2
    assert "--out writes the setting chosen for an alert budget: give --budget N" in result.stderr
    assert not (history / "never.yaml").exists()
    zero = tune(history, "--rule", "usage_decline", "--horizon-days", "0")
    assert zero.returncode == 2
    assert "--horizon-days: must be above 0, got 0" in zero.stderr
