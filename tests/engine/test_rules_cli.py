"""`pulse rules test`: every default rule's fire and near-miss cases, and a readable failure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RULE_CASES = sorted((Path(__file__).parents[1] / "signals" / "rules").glob("*.yaml"))


def rules_test(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", "rules", "test", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_every_default_rule_passes_its_cases() -> None:
    result = rules_test(*RULE_CASES)

    assert result.returncode == 0, result.stdout
    passed = int(result.stdout.split("rules: ")[1].split(" passed")[0])
    assert passed >= 2 * len(RULE_CASES)  # at least a fire and a near-miss case per rule
    assert result.stdout.rstrip().endswith(f"rules: {passed} passed, 0 failed")


def test_a_failing_case_shows_what_fired_instead(tmp_path: Path) -> None:
    case = tmp_path / "wrong.yaml"
    case.write_text(
        "start: 2026-10-05T00:00:00Z\n"
        "defaults: {account_id: acme}\n"
        "cases:\n"
        "  - name: a promoter expected to be a detractor\n"
        "    input:\n"
        "      - {at: +0d, event: {type: track, name: Signed In, user_id: ann}}\n"
        "      - {at: +1d, event: {type: nps, respondent_id: r1, score: 10}}\n"
        "    expect:\n"
        "      - {rule: detractor}\n"
    )
    result = rules_test(case, tmp_path / "absent.yaml")

    assert result.returncode == 1
    assert f"FAIL  {case}: a promoter expected to be a detractor" in result.stdout
    assert "missing: detractor" in result.stdout
    assert "promoter acme" in result.stdout
    assert f"ERROR {tmp_path / 'absent.yaml'}: No such file or directory" in result.stdout
    assert result.stdout.rstrip().endswith("rules: 0 passed, 2 failed")
