"""The checked-in JSON Schemas match the models, and the CLI says when they do not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from topics.schemas import MODELS, SCHEMA_DIR, check, export, render


def test_checked_in_schemas_match_the_models(tmp_path: Path) -> None:
    written = export(tmp_path)

    assert len(written) == len(MODELS) + 1
    for path in written:
        checked_in = SCHEMA_DIR / path.name
        assert checked_in.read_text(encoding="utf-8") == path.read_text(encoding="utf-8"), (
            f"{path.name} drifted: run `python -m topics.schemas`"
        )
    assert check() == []


def test_check_lists_missing_and_changed_files(tmp_path: Path) -> None:
    export(tmp_path)
    (tmp_path / "Trigger.schema.json").write_text("{}", encoding="utf-8")
    (tmp_path / "README.md").unlink()

    assert sorted(check(tmp_path)) == ["README.md", "Trigger.schema.json"]


def test_cli_check_exits_1_listing_drifted_files(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "topics.schemas", "--check", str(tmp_path)]

    drifted = subprocess.run(command, capture_output=True, text=True, check=False)
    subprocess.run([*command[:3], str(tmp_path)], capture_output=True, check=True)
    clean = subprocess.run(command, capture_output=True, text=True, check=False)

    assert drifted.returncode == 1
    assert f"drifted: {tmp_path / 'UsageEvent.schema.json'}" in drifted.stderr
    assert (clean.returncode, clean.stderr) == (0, "")


def test_readme_maps_every_topic_to_its_schema() -> None:
    readme = render()["README.md"]

    usage = "`UsageEvent.schema.json`, `UserLink.schema.json`, `UserAlias.schema.json`"
    assert f"| `pulse.usage.v1` | {usage} |" in readme
    assert (
        "| `pulse.health.v1` | `HealthSnapshot.schema.json` | account_id (UTF-8) | compact |"
        in readme
    )
