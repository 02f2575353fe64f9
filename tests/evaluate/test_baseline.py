"""The baseline's three rules, each with a case that fires and a near miss."""

from __future__ import annotations

from collections.abc import Iterable

from engine.evaluation.baseline import (
    ACTIVE_USERS_DOWN,
    NPS_DETRACTOR,
    PAYMENT_FAILED,
    active_users_down,
    baseline_alerts,
)
from engine.evaluation.history import AccountHistory
from engine.evaluation.model import Alert
from tests.evaluate.support import day, observed
from topics.models import BillingEvent, InputEvent, SurveyResponse, UsageEvent

ALL = ["u1", "u2", "u3", "u4", "u5"]


def active(days: Iterable[int], users: list[str], account: str = "A") -> list[InputEvent]:
    return [
        UsageEvent(
            event_id=f"{account}-{user}-{n}",
            occurred_at=day(n + 0.5),
            account_id=account,
            user_id=user,
            name="Signed In",
        )
        for n in days
        for user in users
    ]


def fired_on(alerts: list[Alert]) -> list[float]:
    return [(a.fired_at - day(0)).days for a in alerts]


def test_active_users_down_fires_once_when_it_drops_and_again_after_recovering() -> None:
    # 5 users a day for 28 days, then 1: the last 14 days (days 28..41) hold 1 distinct
    # user against 5 per 14 days before, so it fires at the end of day 41. It stays down
    # to day 44 without firing again, recovers on day 45, and drops again over days 73..86.
    events = active(range(28), ALL) + active(range(28, 45), ["u1"])
    events += active(range(45, 73), ALL) + active(range(73, 87), ["u1"])
    alerts = active_users_down("A", AccountHistory.of(events), until=day(87))
    assert fired_on(alerts) == [42, 87]
    assert {a.rule_id for a in alerts} == {ACTIVE_USERS_DOWN}


def test_active_users_down_near_misses() -> None:
    # 3 of 5 users is exactly 60%: not below it.
    events = active(range(28), ALL) + active(range(28, 60), ["u1", "u2", "u3"])
    assert active_users_down("A", AccountHistory.of(events), until=day(60)) == []
    # One user once, then nothing: the prior average (0.5 users) is under 1.
    assert active_users_down("A", AccountHistory.of(active([0], ["u1"])), until=day(40)) == []


def test_no_alert_once_the_account_has_cancelled() -> None:
    events = active(range(28), ALL) + active(range(28, 42), ["u1"])
    outcomes = {"A": observed(0, 41.5, cancelled_at=day(41.5), ended_at=day(41.5))}
    assert baseline_alerts({"A": AccountHistory.of(events)}, outcomes) == []


def test_detractors_and_failed_payments() -> None:
    def nps(n: int, score: int) -> SurveyResponse:
        return SurveyResponse(
            event_id=f"nps{n}", occurred_at=day(n), account_id="A", respondent_id="r", score=score
        )

    def bill(n: int, action: str, invoice: str) -> BillingEvent:
        return BillingEvent(
            event_id=f"b{n}",
            occurred_at=day(n),
            account_id="A",
            action=action,  # type: ignore[arg-type]
            invoice_id=invoice,
        )

    events: list[InputEvent] = [
        nps(1, 6),  # a detractor: fires
        nps(2, 7),  # a passive: near miss
        bill(3, "payment_failed", "in1"),  # fires
        bill(4, "payment_failed", "in1"),  # the same invoice failing again: no
        bill(5, "payment_recovered", "in1"),
        bill(6, "invoice_paid", "in2"),
        bill(7, "payment_failed", "in3"),  # another invoice: fires
    ]
    alerts = baseline_alerts({"A": AccountHistory.of(events)}, {"A": observed(0, 10)})
    assert [(a.rule_id, fired_on([a])[0]) for a in alerts] == [
        (NPS_DETRACTOR, 1),
        (PAYMENT_FAILED, 3),
        (PAYMENT_FAILED, 7),
    ]
    assert all(a.kind == "churn_risk" for a in alerts)
