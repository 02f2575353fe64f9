"""Runs every rule test file under tests/signals/rules/: one per default rule, under
optional/ one per rule shipped switched off (``enable:``), and under textbook/ a few
cases of the textbook rules (``extends: textbook``), still an option."""

from __future__ import annotations

from pathlib import Path

import pytest

from signals.rules import default_rules, optional_rules
from signals.rules.loader import textbook_rules
from signals.rulestest import CaseResult, run_rule_tests

RULE_TESTS = Path(__file__).parent / "rules"
FILES = sorted(RULE_TESTS.glob("*.yaml"))
OPTIONAL = sorted((RULE_TESTS / "optional").glob("*.yaml"))
TEXTBOOK = sorted((RULE_TESTS / "textbook").glob("*.yaml"))


def _run(path: Path, text: str | None = None) -> list[CaseResult]:
    """As `pulse rules test` runs a file: a ``rules_file`` is read beside it."""

    def read_rules(name: str) -> str:
        return (path.parent / name).read_text(encoding="utf-8")

    return run_rule_tests(text or path.read_text(encoding="utf-8"), path.name, read_rules)


@pytest.mark.parametrize(
    "path",
    FILES + OPTIONAL + TEXTBOOK,
    ids=[p.stem for p in FILES]
    + [f"optional-{p.stem}" for p in OPTIONAL]
    + [f"textbook-{p.stem}" for p in TEXTBOOK],
)
def test_rule_file(path: Path) -> None:
    results = _run(path)
    failures = [f"{r.name}:\n{r.diff}" for r in results if not r.passed]
    assert not failures, "\n\n".join(failures)


def test_every_default_rule_has_a_test_file() -> None:
    assert {rule.id for rule in default_rules().rules} == {p.stem for p in FILES}


def test_every_optional_rule_has_a_test_file_run_with_it_enabled() -> None:
    assert {rule.id for rule in optional_rules().rules} == {p.stem for p in OPTIONAL}
    for path in OPTIONAL:
        assert "rules_file: ../rulesets/optional.yaml" in path.read_text(encoding="utf-8")


def test_every_file_has_a_case_that_fires_and_one_that_must_not() -> None:
    import yaml

    for path in FILES + OPTIONAL:
        cases = yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]
        assert any(case.get("expect") for case in cases), f"{path.name}: nothing fires"
        assert any(case.get("must_not_fire") for case in cases), f"{path.name}: no near miss"


def test_textbook_files_run_the_textbook_rules() -> None:
    textbook = {rule.id for rule in textbook_rules().rules}
    for path in TEXTBOOK:
        assert "rules_file: ../rulesets/textbook.yaml" in path.read_text(encoding="utf-8")
        assert path.stem in textbook


def test_a_failing_case_explains_itself() -> None:
    path = RULE_TESTS / "gone_quiet.yaml"
    text = path.read_text(encoding="utf-8").replace("at: +43d,", "at: +42d,")
    (first, *_) = _run(path, text)
    assert not first.passed
    assert "missing: gone_quiet for acme at 2026-11-16T00:00:00+00:00" in first.diff
    assert "fired:\n  gone_quiet acme 2026-11-17T00:00:00+00:00" in first.diff
