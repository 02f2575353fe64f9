"""Triggers that must not exist are counted: on incomplete data, and churn risk after cancelling."""

from __future__ import annotations

from engine.evaluation.integrity import (
    MISSING_VALUE,
    ONE_COMPONENT,
    PROVISIONAL_HEALTH,
    incomplete_reasons,
    integrity,
)
from tests.evaluate.support import churned, day, observed, trigger
from topics.models import ComponentScore, Evidence, HealthSnapshot

COMPONENTS = [
    ComponentScore(
        name=name, weight=20, effective_weight=50, score=0.2, points=10, metrics={"m": 1.0}
    )
    for name in ("product_usage", "support")
]


def health(components: int = 2, *, provisional: bool = False) -> HealthSnapshot:
    return HealthSnapshot(
        account_id="A",
        as_of=day(1),
        score=20,
        band="red",
        components=COMPONENTS[:components],
        missing_components=[],
        trend_7d=None,
        trend_30d=None,
        provisional=provisional,
    )


def evidence(metric: str, value: float | None) -> Evidence:
    return Evidence(metric=metric, value=value, threshold=50, comparison="<", window="now")


def test_incomplete_data_reasons() -> None:
    def reasons(metric: str, value: float | None, snapshot: HealthSnapshot | None) -> list[str]:
        made = trigger("A", "r", 1, evidence=[evidence(metric, value)])
        return incomplete_reasons(made.model_copy(update={"health": snapshot}))

    assert reasons("logins_wow_change", None, health()) == [MISSING_VALUE]
    assert reasons("health_score", 20, health(provisional=True)) == [PROVISIONAL_HEALTH]
    assert reasons("health_score", 20, None) == [PROVISIONAL_HEALTH]
    assert reasons("health_green", 0, health(1)) == [ONE_COMPONENT]
    # Near misses: a health rule on a full snapshot; a provisional snapshot not read.
    assert reasons("health_score", 20, health(2)) == []
    assert reasons("days_since_last_login", 20, health(provisional=True)) == []


def test_counts_by_reason_and_rule_and_after_cancellation() -> None:
    outcomes = {"A": observed(0, 90), "B": churned(0, 30)}
    triggers = [
        trigger("A", "health_red", 1, evidence=[evidence("health_score", None)]).model_copy(
            update={"health": health(1)}
        ),
        trigger("A", "gone_quiet", 2, evidence=[evidence("days_since_last_login", 15)]),
        trigger("B", "gone_quiet", 29),  # before cancelling: fine
        trigger("B", "gone_quiet", 30),  # at the cancellation: after
        trigger("B", "renewal_at_risk", 40),
        trigger("B", "seat_limit", 41, kind="expansion"),  # not churn risk
    ]
    checked = integrity(triggers, outcomes)
    assert checked.incomplete == 1
    assert checked.incomplete_by_reason == {MISSING_VALUE: 1, ONE_COMPONENT: 1}
    assert checked.incomplete_by_rule == {"health_red": 1}
    assert checked.churn_after_cancellation == 2
    assert checked.after_cancellation_by_rule == {"gone_quiet": 1, "renewal_at_risk": 1}
    assert checked.churn_after_notice == 0
