"""`evaluate` on a hand-made case whose numbers are worked out by hand below."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from engine.evaluate import (
    Outcome,
    PersonaCount,
    evaluate,
    read_triggers,
    read_truth,
    render,
    report_json,
)
from topics.models import Trigger


def _at(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def _trigger(account: str, rule: str, kind: str, fired_at: datetime, **extra: str) -> Trigger:
    return Trigger(
        trigger_id=f"{account}-{rule}-{fired_at:%m%d%H}",
        account_id=account,
        rule_id=rule,
        rule_version=1,
        kind=kind,  # type: ignore[arg-type]
        severity="high",
        priority=1.0,
        fired_at=fired_at,
        evidence=[],
        health=None,
        csm_owner=None,
        recommended_play="call",
        explanation="test",
        **extra,  # type: ignore[arg-type]
    )


TRUTH = {
    "A": Outcome("declining_then_cancelling", _at(7, 31)),
    "B": Outcome("payment_trouble", _at(8, 10, 12)),
    "C": Outcome("healthy_steady", None),
    "D": Outcome("promoter_champion", None),
    "E": Outcome("trial_never_adopts", _at(7, 20)),
}
TRIGGERS = [
    _trigger("A", "login_decline", "churn_risk", _at(7, 11)),  # 20 days ahead
    _trigger("A", "login_decline", "churn_risk", _at(7, 21)),
    _trigger("A", "ticket_spike", "churn_risk", _at(7, 25)),  # 6 days ahead
    _trigger("A", "login_decline", "churn_risk", _at(7, 22), revision_of="A-login_decline-072100"),
    _trigger("B", "payment_failed", "churn_risk", _at(8, 9, 12)),  # 1 day ahead
    _trigger("B", "payment_failed_unresolved", "churn_risk", _at(8, 11)),  # after cancelling
    _trigger("C", "ticket_spike", "churn_risk", _at(7, 15)),  # a false alarm
    _trigger("C", "seat_limit", "expansion", _at(7, 20)),
    _trigger("D", "promoter", "advocacy", _at(7, 5)),
    _trigger("D", "promoter", "advocacy", _at(7, 25)),
    _trigger("Z", "gone_quiet", "churn_risk", _at(7, 25)),  # not in the truth
]


def test_recall_and_lead_time() -> None:
    report = evaluate(TRIGGERS, TRUTH)
    # A, B and E cancelled; A (first warning 20 d ahead) and B (1 d ahead) were caught.
    assert (report.cancelled_accounts, report.caught_accounts) == (3, 2)
    assert report.recall == pytest.approx(2 / 3)
    lead = report.lead_time_days
    assert lead is not None
    # Inclusive quartiles of [1, 20]: 1 + 19 * (0.25, 0.5, 0.75).
    assert (lead.count, lead.minimum, lead.maximum) == (2, 1.0, 20.0)
    assert (lead.q1, lead.median, lead.q3) == pytest.approx((5.75, 10.5, 15.25))
    assert lead.histogram == {"<1d": 0, "1-7d": 1, "7-14d": 0, "14-30d": 1, "30-60d": 0, ">=60d": 0}
    assert report.churn_risk_after_cancellation == 1


def test_false_alarms_expansion_and_advocacy_per_persona() -> None:
    report = evaluate(TRIGGERS, TRUTH)
    assert report.churn_risk_on_retained == [
        PersonaCount("healthy_steady", 1, 1, 1),
        PersonaCount("promoter_champion", 1, 0, 0),
    ]
    expansion = {c.persona: c for c in report.expansion}
    assert expansion["healthy_steady"] == PersonaCount("healthy_steady", 1, 1, 1)
    assert sum(c.triggers for c in report.expansion) == 1
    advocacy = {c.persona: c for c in report.advocacy}
    assert advocacy["promoter_champion"] == PersonaCount("promoter_champion", 1, 1, 2)
    assert sum(c.triggers for c in report.advocacy) == 2


def test_per_rule_table_and_revisions() -> None:
    report = evaluate(TRIGGERS, TRUTH)
    rules = {r.rule_id: r for r in report.rules}
    assert set(rules) == {
        "login_decline",
        "ticket_spike",
        "payment_failed",
        "payment_failed_unresolved",
        "seat_limit",
        "promoter",
    }
    login = rules["login_decline"]
    assert (login.fires, login.accounts, login.fires_on_cancelled) == (2, 1, 2)
    assert (login.precision, login.median_lead_days) == (1.0, 20.0)
    spike = rules["ticket_spike"]
    assert (spike.fires, spike.accounts, spike.fires_on_cancelled) == (2, 2, 1)
    assert (spike.precision, spike.median_lead_days) == (0.5, 6.0)
    unresolved = rules["payment_failed_unresolved"]
    assert (unresolved.fires_on_cancelled, unresolved.precision) == (0, 0.0)
    assert unresolved.median_lead_days is None
    assert rules["payment_failed"].median_lead_days == 1.0
    assert rules["seat_limit"].precision is None
    assert (report.revisions, report.revisions_by_rule) == (1, {"login_decline": 1})
    assert report.unknown_account_triggers == 1


def test_nothing_cancelled_gives_no_recall() -> None:
    report = evaluate([], {"C": Outcome("healthy_steady", None)})
    assert report.recall is None
    assert report.lead_time_days is None


def test_files_and_output(tmp_path: Path) -> None:
    triggers = tmp_path / "triggers.jsonl"
    lines = [t.model_dump_json().encode() for t in TRIGGERS[:5]]
    lines.append(orjson.dumps({"topic": "triggers.churn-risk", "value": TRIGGERS[5].model_dump()}))
    lines.append(orjson.dumps({"topic": "health", "value": {"type": "health"}}))
    triggers.write_bytes(b"\n".join(lines) + b"\n")
    truth = tmp_path / "truth.json"
    accounts = {
        a: {"persona": o.persona, "cancelled_at": o.cancelled_at and o.cancelled_at.isoformat()}
        for a, o in TRUTH.items()
    }
    truth.write_text(json.dumps({"accounts": accounts}))
    assert read_truth(truth) == TRUTH
    assert list(read_triggers(triggers)) == TRIGGERS[:6]
    report = evaluate(read_triggers(triggers), read_truth(truth))
    text = render(report)
    assert "recall 66.7%" in text
    assert "login_decline" in text
    assert orjson.loads(report_json(report))["caught_accounts"] == 2
