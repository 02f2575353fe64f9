"""Expansion and advocacy triggers judged by what the account did next."""

from __future__ import annotations

import pytest

from engine.evaluation.model import EvaluationSettings
from engine.evaluation.opportunities import advocacy_quality, expansion_quality
from tests.evaluate.support import churned, day, observed, trigger

SETTINGS = EvaluationSettings()  # 90 days for expansion and cancellation, 30 either side


def test_expansion_precision_lift_and_recall() -> None:
    outcomes = {
        "A": observed(0, 200, expansions=(day(100),)),  # triggered on day 20 and 60
        "B": observed(0, 200, expansions=(day(150),)),  # triggered on day 10: 140 d, too late
        "C": observed(0, 200),  # triggered, never expanded
        "D": observed(0, 200, expansions=(day(50),)),  # expanded, never triggered
        "E": observed(0, 200),
    }
    triggers = [
        trigger("A", "seat_limit", 20, kind="expansion"),  # 80 d before: right
        trigger("A", "seat_limit", 60, kind="expansion"),  # right
        trigger("B", "seat_limit", 10, kind="expansion"),
        trigger("C", "api_limit", 30, kind="expansion"),
        trigger("C", "gone_quiet", 30),  # not expansion
    ]
    q = expansion_quality(triggers, outcomes, SETTINGS)
    assert (q.triggers, q.accounts, q.expanded_accounts) == (4, 3, 3)
    assert q.precision_by_trigger == pytest.approx(2 / 4)
    assert q.precision_by_account == pytest.approx(1 / 3)
    assert q.base_rate == pytest.approx(3 / 5)
    assert q.lift == pytest.approx((1 / 3) / (3 / 5))
    assert q.recall == pytest.approx(1 / 3)  # A only


def test_advocacy_asks_only_accounts_that_stay_and_are_not_at_risk() -> None:
    outcomes = {
        "A": observed(0, 200),  # asked twice, fine
        "B": churned(0, 100),  # asked on day 20: cancels 80 d later
        "C": observed(0, 200),  # asked on day 50, churn-risk alert on day 75
        "D": observed(0, 200),  # asked on day 50, churn-risk alert on day 81: far enough
        "E": churned(0, 150),  # asked on day 50: cancels 100 d later, far enough
    }
    triggers = [
        trigger("A", "promoter", 10, kind="advocacy"),
        trigger("A", "promoter", 40, kind="advocacy"),
        trigger("B", "promoter", 20, kind="advocacy"),
        trigger("C", "promoter", 50, kind="advocacy"),
        trigger("C", "ticket_spike", 75),
        trigger("D", "promoter", 50, kind="advocacy"),
        trigger("D", "ticket_spike", 81),
        trigger("E", "promoter", 50, kind="advocacy"),
    ]
    q = advocacy_quality(triggers, outcomes, SETTINGS)
    assert (q.triggers, q.accounts) == (6, 5)
    assert (q.cancelled_after, q.churn_alert_near) == (1, 1)
    assert q.precision_by_trigger == pytest.approx(4 / 6)
    assert q.precision_by_account == pytest.approx(3 / 5)
    # Weekly pretend asks while observed: A, C, D 29 each (days 0..196), B 15 (0..98),
    # E 22 (0..147). Wrong: B's from day 14 (it cancels on day 100, within 90 d: days
    # 14..98, 13 asks), E's from day 63 (days 63..147, 13 asks), C's
    # within 30 d of day 75 (days 49..105, 9 asks) and D's of day 81 (days 56..105, 8).
    total = 3 * 29 + 15 + 22
    assert q.chance == pytest.approx((total - 13 - 13 - 9 - 8) / total)
    assert q.lift == pytest.approx((4 / 6) / q.chance)
