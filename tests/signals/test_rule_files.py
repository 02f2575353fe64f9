"""Runs every rule test file under tests/signals/rules/ (one per default rule)."""

from __future__ import annotations

from pathlib import Path

import pytest

from signals.rules import default_rules
from signals.rulestest import run_rule_tests

RULE_TESTS = Path(__file__).parent / "rules"
FILES = sorted(RULE_TESTS.glob("*.yaml"))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_rule_file(path: Path) -> None:
    results = run_rule_tests(path.read_text(), path.name)
    failures = [f"{r.name}:\n{r.diff}" for r in results if not r.passed]
    assert not failures, "\n\n".join(failures)


def test_every_default_rule_has_a_test_file() -> None:
    assert {rule.id for rule in default_rules().rules} <= {p.stem for p in FILES}


def test_a_failing_case_explains_itself() -> None:
    text = (RULE_TESTS / "gone_quiet.yaml").read_text().replace("at: +14d9h", "at: +13d")
    (first, _) = run_rule_tests(text, "broken.yaml")
    assert not first.passed
    assert "missing: gone_quiet for acme at 2026-10-18T00:00:00+00:00" in first.diff
    assert "fired:\n  gone_quiet acme 2026-10-19T09:00:00+00:00" in first.diff
