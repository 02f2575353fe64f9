"""Rules files: validation with the line and reason of a bad rule."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml

from signals.errors import RuleFileError
from signals.rules import default_rules, load_rules, optional_rules, rule_metric_names
from signals.rules.loader import textbook_rules
from signals.rules.model import AllOf, MetricCondition

GOOD = """\
rules:
  - id: seat_limit
    version: 2
    kind: expansion
    severity: medium
    description: Active users reached 80% of seats
    play: Expansion proposal
    cooldown: 14d
    when:
      all:
        - {metric: seat_utilisation, op: ">=", threshold: 0.8}
        - metric: logins_wow_change
          op: "<="
          threshold: -0.4
          sustained_for: {count: 3, period: 1w}
"""


def test_a_good_file_loads() -> None:
    rule = load_rules(GOOD, "good.yaml").rules[0]
    assert (rule.id, rule.version, rule.cooldown) == ("seat_limit", 2, timedelta(days=14))
    assert isinstance(rule.when, AllOf)
    second = rule.when.all[1]
    assert isinstance(second, MetricCondition)
    assert second.sustained_for is not None
    assert second.sustained_for.period == timedelta(weeks=1)


DEFAULT_IDS = {
    "usage_decline",
    "key_user_gone",
    "gone_quiet",
    "usage_down_tickets_up",
    "low_trial_adoption",
    "cancellation_scheduled",
    "payment_failed",
    "health_red",
    "renewal_at_risk",
    "detractor",
    "seat_limit",
    "usage_tier",
    "api_limit",
    "premium_interest",
    "promoter",
    "referral_champion",
    "community_contributor",
    "reference_candidate",
}
TEXTBOOK_IDS = {
    "login_decline",
    "usage_down_tickets_up",
    "low_trial_adoption",
    "payment_failed",
    "payment_failed_unresolved",
    "health_red",
    "renewal_at_risk_90",
    "renewal_at_risk_60",
    "renewal_at_risk_30",
    "gone_quiet",
    "detractor",
    "ticket_spike",
    "seat_limit",
    "usage_tier",
    "api_limit",
    "premium_interest",
    "promoter",
    "referral_champion",
    "community_contributor",
    "reference_candidate",
}


def test_every_default_rule_loads() -> None:
    assert {rule.id for rule in default_rules().rules} == DEFAULT_IDS


def test_the_textbook_rules_load_with_the_spec_literal_ids() -> None:
    assert {rule.id for rule in textbook_rules().rules} == TEXTBOOK_IDS


def test_a_file_extending_the_textbook_changes_only_what_it_names() -> None:
    text = "extends: textbook\ndisable: [renewal_at_risk_90, login_decline]\n"
    rules = load_rules(text, "textbook.yaml")
    ids = [rule.id for rule in rules.rules]
    assert set(ids) == TEXTBOOK_IDS - {"renewal_at_risk_90", "login_decline"}
    assert rules.get("renewal_at_risk_60") == textbook_rules().get("renewal_at_risk_60")
    assert rules.get("gone_quiet") != default_rules().get("gone_quiet")


def test_enable_switches_on_a_rule_shipped_off_and_keeps_the_defaults() -> None:
    rules = load_rules("extends: defaults\nenable: [ticket_spike]\n", "mine.yaml")
    assert {rule.id for rule in rules.rules} == DEFAULT_IDS | {"ticket_spike"}
    assert rules.get("ticket_spike") == optional_rules().get("ticket_spike")
    assert "ticket_spike" not in {rule.id for rule in default_rules().rules}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("extends: defaults\nenable: [gone_quiet]\n", "'gone_quiet', which is no optional rule"),
        ("extends: defaults\nenable: [spike]\n", r"\(there are: ticket_spike\)"),
        ("extends: textbook\nenable: [ticket_spike]\n", "enable needs 'extends: defaults'"),
        ("enable: [ticket_spike]\nrules: []\n", "enable needs 'extends: defaults'"),
    ],
)
def test_enable_names_an_optional_rule_on_the_defaults(text: str, says: str) -> None:
    with pytest.raises(RuleFileError, match=says):
        load_rules(text, "mine.yaml")


def test_a_file_written_before_may_still_disable_a_rule_now_shipped_off() -> None:
    rules = load_rules("extends: defaults\ndisable: [ticket_spike]\n", "old.yaml")
    assert {rule.id for rule in rules.rules} == DEFAULT_IDS


def test_an_own_rule_named_as_an_optional_one_must_raise_its_version() -> None:
    spike = optional_rules().get("ticket_spike")
    assert spike is not None
    text = (
        "extends: defaults\nrules:\n  - id: ticket_spike\n    version: 3\n"
        "    kind: churn_risk\n    severity: low\n    description: d\n    play: p\n"
        "    when: {metric: tickets_opened_7d, op: '>=', threshold: 9}\n"
    )
    with pytest.raises(RuleFileError, match="keeps version 3"):
        load_rules(text, "mine.yaml")


def test_disabling_a_rule_the_textbook_lacks_is_named() -> None:
    with pytest.raises(RuleFileError, match="'usage_decline', which is not a rule of textbook"):
        load_rules("extends: textbook\ndisable: [usage_decline]\n", "mine.yaml")


EPISODE_RULE = """\
rules:
  - id: unpaid
    version: 1
    kind: churn_risk
    severity: medium
    description: Unpaid
    play: Call
    episode: unpaid_since_day
    evidence: [mrr, days_past_due]
    escalate:
      - severity: critical
        when: {metric: days_past_due, op: ">=", threshold: 30}
    when: {metric: failed_payments_unresolved, op: ">=", threshold: 1}
"""


def test_episode_escalations_and_evidence_load() -> None:
    (rule,) = load_rules(EPISODE_RULE, "e.yaml").rules
    assert rule.episode == "unpaid_since_day"
    assert rule.evidence == ("mrr", "days_past_due")
    assert [e.severity for e in rule.escalate] == ["critical"]
    assert rule_metric_names(rule) == {
        "failed_payments_unresolved",
        "days_past_due",
        "unpaid_since_day",
    }


@pytest.mark.parametrize(
    ("old", "new", "line", "reason"),
    [
        ("episode: unpaid_since_day", "episode: unpaid_since", 8, "unknown metric 'unpaid_since'"),
        ("[mrr, days_past_due]", "[mrr, arr]", 9, "unknown metric 'arr'"),
        ("severity: critical", "severity: apocalyptic", 11, "severity"),
        ("days_past_due, op", "days_overdue, op", 12, "unknown metric 'days_overdue'"),
    ],
)
def test_a_bad_episode_evidence_or_escalation_is_reported_with_its_line(
    old: str, new: str, line: int, reason: str
) -> None:
    text = EPISODE_RULE.replace(old, new)
    assert text != EPISODE_RULE
    with pytest.raises(RuleFileError) as info:
        load_rules(text, "bad.yaml")
    assert info.value.line == line, str(info.value)
    assert reason in str(info.value)


@pytest.mark.parametrize(
    ("old", "new", "line", "reason"),
    [
        ("seat_utilisation", "seat_utilization", 11, "unknown metric 'seat_utilization'"),
        ("threshold: -0.4", "threshold: lots", 14, "threshold"),
        ("severity: medium", "severity: dire", 5, "severity"),
        ("count: 3", "count: 0", 15, "count"),
        ("    version: 2\n", "", 2, "version: Field required"),
        ("- {metric: seat_utilisation,", "- {metrc: seat_utilisation,", 11, "condition"),
        ("cooldown: 14d", "cooldown: soon", 8, "cooldown"),
    ],
)
def test_a_bad_rule_is_reported_with_its_line(old: str, new: str, line: int, reason: str) -> None:
    text = GOOD.replace(old, new)
    assert text != GOOD
    with pytest.raises(RuleFileError) as info:
        load_rules(text, "bad.yaml")
    assert info.value.line == line, str(info.value)
    assert reason in str(info.value)
    assert str(info.value).startswith(f"bad.yaml:{line}: ")


def test_duplicate_rule_ids_are_reported_at_the_second() -> None:
    text = GOOD + GOOD.removeprefix("rules:\n")
    with pytest.raises(RuleFileError, match="defined twice") as info:
        load_rules(text, "dup.yaml")
    assert info.value.line == 16


def test_broken_yaml_is_reported_with_its_line() -> None:
    with pytest.raises(RuleFileError, match="not valid YAML") as info:
        load_rules("rules:\n  - id: [unclosed\n", "broken.yaml")
    assert info.value.line is not None


def test_unknown_predicate_is_named() -> None:
    text = GOOD.replace(
        '- {metric: seat_utilisation, op: ">=", threshold: 0.8}', "- predicate: vibes"
    )
    with pytest.raises(RuleFileError, match="unknown predicate 'vibes'") as info:
        load_rules(text, "p.yaml")
    assert info.value.line == 11


def test_not_a_mapping() -> None:
    with pytest.raises(RuleFileError, match="'rules' list"):
        load_rules("- a\n- b\n", "list.yaml")


def test_a_file_extending_the_defaults_changes_only_what_it_names() -> None:
    text = """\
extends: defaults
disable: [promoter, gone_quiet]
rules:
  - id: seat_limit
    version: 9
    kind: expansion
    severity: low
    description: Active users reached 90% of seats
    play: Expansion proposal
    when: {metric: seat_utilisation, op: ">=", threshold: 0.9}
  - id: vip_quiet
    version: 1
    kind: churn_risk
    severity: critical
    description: Nobody logged in for 5 days
    play: Executive escalation
    when: {metric: days_since_last_login, op: ">=", threshold: 5}
"""
    rules = load_rules(text, "mine.yaml")
    defaults = default_rules()
    ids = [rule.id for rule in rules.rules]

    assert "promoter" not in ids
    assert "gone_quiet" not in ids
    assert ids[-1] == "vip_quiet"
    assert len(ids) == len(defaults.rules) - 2 + 1
    seat_limit = rules.get("seat_limit")
    assert seat_limit is not None
    assert seat_limit.version == 9
    assert rules.get("usage_decline") == defaults.get("usage_decline")


def test_a_changed_default_rule_must_raise_its_version() -> None:
    changed = """\
extends: defaults
rules:
  - id: seat_limit
    version: 2
    kind: expansion
    severity: low
    description: Active users reached 90% of seats
    play: Expansion proposal
    when: {metric: seat_utilisation, op: ">=", threshold: 0.9}
"""
    with pytest.raises(RuleFileError) as refused:
        load_rules(changed, "mine.yaml")
    assert str(refused.value).startswith("mine.yaml:4: rule 'seat_limit' changes the defaults")
    assert "give it version 4 or more" in str(refused.value)
    # an unchanged copy of a default rule needs no new version
    same = default_rules().get("seat_limit")
    assert same is not None
    copy = yaml.safe_dump({"extends": "defaults", "rules": [same.model_dump(mode="json")]})
    assert load_rules(copy, "copy.yaml").get("seat_limit") == same


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("extends: defaults\ndisable:\n  - promoter\n  - no_such_rule\n", 4, "'no_such_rule'"),
        ("disable: [promoter]\nrules: []\n", 1, "disable needs 'extends: defaults'"),
        ("rules: []\n", 1, "no rules"),
    ],
)
def test_bad_extensions_name_the_line(text: str, line: int, reason: str) -> None:
    with pytest.raises(RuleFileError) as raised:
        load_rules(text, "mine.yaml")
    assert raised.value.line == line
    assert reason in str(raised.value)
