"""The whole report on a hand-made case: per-rule rows, revisions, personas, text and JSON."""

from __future__ import annotations

import re

import orjson
import pytest

from engine.evaluation.baseline import NPS_DETRACTOR
from engine.evaluation.metrics import PersonaChurn, PersonaCount, evaluate
from engine.evaluation.model import Alert, EvaluationSettings
from engine.evaluation.render import render, report_json
from tests.evaluate.support import churned, day, observed, trigger

SETTINGS = EvaluationSettings(horizon_days=30)
OUTCOMES = {
    "A": churned(0, 60, persona="declining", csm_owner="ann"),
    "B": observed(0, 90, persona="steady", csm_owner="bob"),
    "C": observed(0, 90, persona="steady"),
    "D": churned(0, 50, persona="declining"),
}
TRIGGERS = [
    trigger("A", "r1", 40),  # 20 d ahead
    trigger("A", "r1", 41, revision_of="A-r1-40"),  # a revision: counted apart
    trigger("A", "r2", 45),  # 15 d ahead
    trigger("B", "r1", 10),  # a false alarm
    trigger("C", "seat_limit", 20, kind="expansion"),
    trigger("Z", "r1", 30),  # no outcome for Z
]
BASELINE = [
    Alert("D", NPS_DETRACTOR, "churn_risk", day(45)),
    Alert("C", NPS_DETRACTOR, "churn_risk", day(5)),
]


def test_rules_revisions_and_unknown_accounts() -> None:
    report = evaluate(TRIGGERS, OUTCOMES, SETTINGS, baseline=BASELINE)
    assert report.population.csms == 2  # ann and bob
    rules = {r.rule_id: r for r in report.rules}
    # 4 accounts, 2 churned: base rate 1/2. r1 alerted A (caught) and B: precision 1/2.
    r1 = rules["r1"]
    assert (r1.fires, r1.accounts, r1.caught, r1.precision) == (2, 2, 1, 0.5)
    assert r1.lift == pytest.approx(1.0)
    assert r1.median_lead_days == 20
    assert r1.alerts_per_100_accounts_30d == pytest.approx(2 / (60 + 90 + 90 + 50) * 3000)
    r2 = rules["r2"]
    assert (r2.caught, r2.precision, r2.lift, r2.median_lead_days) == (1, 1.0, 2.0, 15)
    assert rules["seat_limit"].caught is None
    assert (report.revisions, report.revisions_by_rule) == (1, {"r1": 1})
    assert report.unknown_account_triggers == 1
    # Pulse caught A of A and D; the baseline caught D (C's alert is a false alarm).
    assert (report.pulse.recall, report.pulse.precision_by_account) == (0.5, 0.5)
    assert report.baseline is not None
    assert (report.baseline.recall, report.baseline.precision_by_account) == (0.5, 0.5)
    assert [r.rule_id for r in report.baseline_rules] == [NPS_DETRACTOR]


def test_personas_from_the_truth() -> None:
    personas = evaluate(TRIGGERS, OUTCOMES, SETTINGS).personas
    assert personas is not None
    assert personas.churn_risk_on_retained == [PersonaCount("steady", 2, 1, 1)]
    assert PersonaCount("steady", 2, 1, 1) in personas.expansion
    # the headline's catch of A, by persona; "steady" had no churn to catch
    assert personas.churn_caught == [PersonaChurn("declining", 2, 1, 0, 1)]


def test_churn_caught_by_persona_adds_up_to_the_headline() -> None:
    ahead = [*TRIGGERS, trigger("D", "r1", 10)]  # 40 d before D's cancellation
    report = evaluate(ahead, OUTCOMES, EvaluationSettings(horizon_days=60))
    assert report.personas is not None
    (declining,) = report.personas.churn_caught
    assert (declining.caught, declining.caught_ahead) == (2, 1)
    assert (report.pulse.caught, report.pulse.caught_ahead) == (2, 1)
    text = render(report)
    assert "Paid churn caught (an alert in the 60 d before)" in text
    assert re.search(r"declining\s+2\s+2\s+1", text)


def test_text_puts_the_comparison_first_and_json_holds_everything() -> None:
    report = evaluate(TRIGGERS, OUTCOMES, SETTINGS, baseline=BASELINE)
    text = render(report)
    assert text.startswith("Pulse vs baseline: 4 accounts")
    head = {
        cells[0]: cells[1:]
        for line in text.split("\n\n")[1].splitlines()
        if (cells := re.split(r"\s{2,}", line.strip()))
    }
    assert head["Churned accounts caught (alert in the 30 d before)"] == ["50.0% (1/2)"] * 2
    assert head["Lift (precision / base rate)"] == ["1.0x", "1.0x", ">= 3x", "NO"]
    assert head["Alerts per CSM per week (2 CSMs)"][0] == f"{3 / 2 / (90 / 7):.1f}"
    assert head["Triggers on incomplete data"] == ["0", "0", "0", "yes"]
    assert "Baseline rules" in text
    document = orjson.loads(report_json(report))
    assert document["pulse"]["caught"] == 1
    assert document["baseline"]["recall"] == 0.5
    assert document["integrity"]["churn_after_cancellation"] == 0
    assert {r["rule_id"] for r in document["rules"]} == {"r1", "r2", "seat_limit"}
    assert document["settings"]["horizon_days"] == 30


def test_workload_counts_every_kind_a_csm_is_sent() -> None:
    # A CSM acts on expansion and advocacy triggers too: 3 churn-risk alerts (the
    # revision and the unknown account aside), 1 expansion, 2 advocacy asks, over 2 CSMs
    # and 90 days.
    asks = [
        trigger("B", "promoter", 30, kind="advocacy"),
        trigger("C", "promoter", 60, kind="advocacy"),
    ]
    report = evaluate(TRIGGERS + asks, OUTCOMES, SETTINGS)
    weeks = 90 / 7
    assert report.workload == pytest.approx(
        {"churn_risk": 3 / 2 / weeks, "expansion": 1 / 2 / weeks, "advocacy": 2 / 2 / weeks}
    )
    line = next(ln for ln in render(report).splitlines() if ln.startswith("Every trigger"))
    assert line == (
        f"Every trigger sent, per CSM per week (2 CSMs): churn risk {3 / 2 / weeks:.1f}, "
        f"expansion {1 / 2 / weeks:.1f}, advocacy {2 / 2 / weeks:.1f}; {6 / 2 / weeks:.1f} in all"
    )


def test_no_workload_without_csms() -> None:
    nobody = {account: observed(0, 90) for account in "ABCD"}
    report = evaluate(TRIGGERS, nobody, SETTINGS)
    assert report.workload is None
    assert "Every trigger sent" not in render(report)
