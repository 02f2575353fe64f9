"""The rule test runner: inline rules, rules files through a loader, readable failures."""

from __future__ import annotations

import pytest

from signals.errors import RuleFileError
from signals.rulestest import run_rule_tests

INLINE = """\
start: 2026-10-05T00:00:00Z
defaults: {account_id: acme}
rules:
  - id: busy_day
    version: 3
    kind: expansion
    severity: low
    description: Ten logins in a day
    play: Say thanks
    when: {metric: logins_7d, op: ">=", threshold: 10}
cases:
  - name: ten logins
    input:
      - {at: +0d, event: {type: billing, action: subscription_started, seats_purchased: 5}}
      - {at: +1d9h, repeat: 10, every: 5m, event: {type: track, name: Signed In, user_id: ann}}
    expect:
      - {rule: busy_day, account: acme, at: +1d9h45m, evidence: {logins_7d: 10}}
  - name: wrongly expects nine to be enough
    input:
      - {at: +0d, event: {type: billing, action: subscription_started, seats_purchased: 5}}
      - {at: +1d9h, repeat: 9, event: {type: track, name: Signed In, user_id: ann}}
    expect:
      - {rule: busy_day}
"""


def test_inline_rules_and_a_failure_diff() -> None:
    passed, failed = run_rule_tests(INLINE, "inline.yaml")
    assert passed.passed
    assert passed.triggers[0].rule_version == 3
    assert not failed.passed
    assert failed.diff == "missing: busy_day\nfired:\n  (nothing)"


def test_rules_file_is_read_through_the_loader() -> None:
    rules_text = "rules:\n" + INLINE.split("rules:\n")[1].split("cases:", maxsplit=1)[0]
    text = INLINE.replace(INLINE.split("rules:\n")[1].split("cases:", maxsplit=1)[0], "").replace(
        "rules:\n", "rules_file: mine.yaml\n"
    )
    results = run_rule_tests(text, "t.yaml", read_rules={"mine.yaml": rules_text}.__getitem__)
    assert [r.passed for r in results] == [True, False]


def test_a_malformed_test_file_is_an_error() -> None:
    with pytest.raises(RuleFileError, match="not a valid rule test file"):
        run_rule_tests("start: 2026-10-05T00:00:00Z\ncases: []\n", "empty.yaml")


def test_a_bad_inline_rule_names_its_problem() -> None:
    with pytest.raises(RuleFileError, match="unknown metric 'logins_8d'"):
        run_rule_tests(INLINE.replace("logins_7d, op", "logins_8d, op"), "bad.yaml")


def test_must_not_fire_at_a_moment_allows_other_moments() -> None:
    body = INLINE.split("cases:\n", maxsplit=1)[0] + "cases:\n"
    case = """\
  - name: {name}
    input:
      - {{at: +0d, event: {{type: billing, action: subscription_started, seats_purchased: 5}}}}
      - {{at: +1d9h, repeat: 10, every: 5m, event: {{type: track, name: Signed In, user_id: ann}}}}
    must_not_fire:
      - {{rule: busy_day, at: {at}}}
"""
    text = (
        body
        + case.format(name="not at noon", at="+1d12h")
        + case.format(name="not at the tenth login", at="+1d9h45m")
    )
    other_moment, that_moment = run_rule_tests(text, "at.yaml")
    assert other_moment.passed
    assert not that_moment.passed
    assert that_moment.diff.startswith(
        "must not fire: busy_day, but it fired at 2026-10-06T09:45:00+00:00"
    )
