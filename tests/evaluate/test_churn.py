"""Churn-risk alert quality on a hand-built case; every expected number is worked out here."""

from __future__ import annotations

import pytest

from engine.evaluation.churn import churn_quality, population
from engine.evaluation.model import Alert, EvaluationSettings
from tests.evaluate.support import churned, day, observed

# A 30-day horizon, 10 days' minimum lead and a 20-day "quarter" keep the arithmetic small.
SETTINGS = EvaluationSettings(horizon_days=30, min_lead_days=10, quarter_days=20, csms=2)

OUTCOMES = {
    "A": churned(0, 60),  # alerts on day 10 (50 d ahead: outside the horizon), 40 and 65
    "B": churned(0, 50),  # alert on day 48: caught, 2 days ahead
    "C": churned(0, 80),  # never alerted: missed
    "D": observed(0, 90),  # retained, alerted on day 5 only
    "E": observed(0, 90),  # retained, alerted on day 85
    "F": observed(0, 90),
    "G": observed(0, 90),
    "H": observed(0, 90),
    "T": churned(0, 20, trial=True),  # a trial lapse, alerted on day 15
}
ALERTS = [
    Alert("A", "r", "churn_risk", day(10)),
    Alert("A", "r", "churn_risk", day(40)),
    Alert("A", "r", "churn_risk", day(65)),  # after cancelling: volume, not precision
    Alert("B", "r", "churn_risk", day(48)),
    Alert("D", "r", "churn_risk", day(5)),
    Alert("E", "r", "churn_risk", day(85)),
    Alert("T", "r", "churn_risk", day(15)),
    Alert("F", "x", "expansion", day(30)),  # not churn risk: ignored
    Alert("Z", "r", "churn_risk", day(30)),  # no outcome: ignored
]


def test_population_leaves_trial_lapses_out() -> None:
    people = population(OUTCOMES, csms=2)
    assert (people.accounts, people.churned, people.retained, people.trial_lapses) == (8, 3, 5, 1)
    assert people.base_rate == 3 / 8
    # 60 + 50 + 80 + 5 retained * 90 days (the trial's 20 days are left out).
    assert people.account_days == 640
    assert people.period_days == 90


def test_recall_lead_chance_precision_lift_and_volume() -> None:
    q = churn_quality(ALERTS, OUTCOMES, population(OUTCOMES, 2), SETTINGS)
    # Caught: A (day 40 is 20 d before day 60) and B (2 d); C missed. Ahead by 10 d: only A.
    assert (q.caught, q.recall) == (2, pytest.approx(2 / 3))
    assert (q.caught_ahead, q.recall_ahead) == (1, pytest.approx(1 / 3))
    assert q.lead_time_days is not None
    assert (q.lead_time_days.minimum, q.lead_time_days.median) == (2, 11)
    # Chance: of the 5 retained, D and E were alerted at all; only E in its last 30 days.
    assert q.chance_period == pytest.approx(2 / 5)
    assert q.chance_horizon == pytest.approx(1 / 5)
    # A 20-day window slides over 70 days of positions: D's day-5 alert is in the windows
    # starting on days 0..5, E's day-85 alert in those starting on days 65..70.
    assert q.chance_quarter == pytest.approx((5 / 70 + 5 / 70) / 5)
    # Alerted while a customer: A, B, D, E; of those A and B churned within 30 days after
    # an alert. Base rate 3/8, so lift = (2/4) / (3/8).
    assert q.alerted_accounts == 4
    assert q.precision_by_account == pytest.approx(1 / 2)
    assert q.lift == pytest.approx((1 / 2) / (3 / 8))
    # By alert: A@10 (too early), A@40 (hit), B@48 (hit), D@5, E@85; A@65 is after.
    assert q.precision_by_alert == pytest.approx(2 / 5)
    # Volume: 6 alerts on paid accounts over 640 account-days; 2 CSMs over 90/7 weeks.
    assert q.alerts == 6
    assert q.alerts_per_100_accounts_30d == pytest.approx(6 / 640 * 100 * 30)
    assert q.alerts_per_csm_week == pytest.approx(6 / 2 / (90 / 7))
    assert q.trial_lapses_caught == 1


def test_recall_ahead_also_counted_over_churn_watched_long_enough_to_be_caught_ahead() -> None:
    # 45 days of warmup + 10 of lead: A (60 days watched) and C (80) could be caught 10
    # days ahead by a rule needing 45 days of history; B, cancelling on day 50, could not.
    settings = EvaluationSettings(horizon_days=30, min_lead_days=10, warmup_days=45)
    q = churn_quality(ALERTS, OUTCOMES, population(OUTCOMES, 2), settings)
    assert (q.caught_ahead, q.recall_ahead) == (1, pytest.approx(1 / 3))
    assert (q.watchable_ahead, q.caught_ahead_watchable) == (2, 1)
    assert q.recall_ahead_watchable == pytest.approx(1 / 2)


def test_chance_of_an_early_catch_counts_retained_alerts_lead_to_horizon_before_the_end() -> None:
    # Horizon 30, lead 10: retained accounts end on day 90, so [60, 80] is the stretch in
    # which an alert on a churned account would have been an early catch. E's day-85
    # alert is too late, D's day-5 alert too early; F's day-70 alert counts, as does
    # G's alert on day 60 exactly.
    alerts = [
        *ALERTS,
        Alert("F", "r", "churn_risk", day(70)),
        Alert("G", "r", "churn_risk", day(60)),
        Alert("H", "r", "churn_risk", day(81)),
    ]
    q = churn_quality(alerts, OUTCOMES, population(OUTCOMES, 2), SETTINGS)
    assert q.chance_ahead == pytest.approx(2 / 5)
    assert q.chance_horizon == pytest.approx(4 / 5)  # E, F, G, H
    base = churn_quality(ALERTS, OUTCOMES, population(OUTCOMES, 2), SETTINGS)
    assert base.chance_ahead == 0


def test_alerts_while_a_withdrawn_notice_stood_are_neither_catches_nor_false_alarms() -> None:
    # D gave notice on day 30 and withdrew it on day 40: its day-35 alert repeats what it
    # said; its day-5 alert still counts. F's only alert fell in its notice: F is not
    # counted as alerted, nor in the chance level. Volume counts every alert.
    outcomes = {
        **OUTCOMES,
        "D": observed(0, 90, withdrawn_notices=((day(30), day(40)),)),
        "F": observed(0, 90, withdrawn_notices=((day(75), day(78)),)),
    }
    alerts = [
        *ALERTS,
        Alert("D", "r", "churn_risk", day(35)),
        Alert("F", "r", "churn_risk", day(76)),
    ]
    q = churn_quality(alerts, outcomes, population(outcomes, 2), SETTINGS)
    base = churn_quality(ALERTS, OUTCOMES, population(OUTCOMES, 2), SETTINGS)
    assert q.alerted_accounts == base.alerted_accounts == 4
    assert q.precision_by_account == base.precision_by_account
    assert (q.chance_period, q.chance_horizon) == (base.chance_period, base.chance_horizon)
    assert q.alerts == base.alerts + 2


def test_the_save_window_counts_alerts_after_a_notice_until_the_subscription_ends() -> None:
    # C gave notice on day 50 of a cancellation taking effect on day 80; an alert on day
    # 52 repeats the notice: no catch (C decided on day 50), but the save window counts
    # it, 28 days before the end (past the 10 d lead). A's first alert in the 30 days
    # before its end (day 60) is day 40: 20 days left; B's day 48: 2 days, not 10 ahead.
    # N's notice on day 70 is still pending at the data's end (day 90): the window ends
    # there, so its day-85 alert leaves 5 days. L's only alert fell during an earlier
    # lapse (ended day 20, back day 30): not a customer then, so not counted. K, caught
    # on day 45 ahead of its day-60 notice, is in the window too, with 45 days left to
    # its day-90 end, though that is more than the 30-day horizon before the end.
    outcomes = {
        **OUTCOMES,
        "C": observed(0, 80, cancelled_at=day(50), ended_at=day(80)),
        "N": observed(0, 90, cancelled_at=day(70)),
        "L": churned(0, 45, lapses=((day(20), day(30)),)),
        "K": observed(0, 90, cancelled_at=day(60), ended_at=day(90)),
    }
    alerts = [
        *ALERTS,
        Alert("C", "r", "churn_risk", day(52)),
        Alert("N", "r", "churn_risk", day(85)),
        Alert("L", "r", "churn_risk", day(25)),
        Alert("K", "r", "churn_risk", day(45)),
    ]
    q = churn_quality(alerts, outcomes, population(outcomes, 2), SETTINGS)
    assert (q.caught, q.caught_ahead) == (3, 2)  # A, B and K; A and K 10+ days ahead
    assert (q.alerted_before_end, q.recall_before_end) == (5, pytest.approx(5 / 6))
    assert (q.alerted_before_end_ahead, q.recall_before_end_ahead) == (3, pytest.approx(3 / 6))
    assert q.days_left_to_act is not None
    assert (q.days_left_to_act.minimum, q.days_left_to_act.maximum) == (2, 45)
    assert q.days_left_to_act.median == 20


def test_a_rule_firing_on_everyone_has_full_recall_and_no_lift() -> None:
    everyone = [
        Alert(account, "always", "churn_risk", day(n))
        for account, outcome in OUTCOMES.items()
        for n in range(90)
        if outcome.cancelled_at is None or day(n) < outcome.cancelled_at
    ]
    q = churn_quality(everyone, OUTCOMES, population(OUTCOMES, 2), SETTINGS)
    assert q.recall == 1.0
    assert q.chance_horizon == q.chance_period == q.chance_quarter == 1.0
    assert q.precision_by_account == 3 / 8
    assert q.lift == pytest.approx(1.0)


def test_nothing_to_divide_by_gives_none() -> None:
    outcomes = {"F": observed(0, 90)}
    q = churn_quality([], outcomes, population(outcomes, None), SETTINGS)
    assert (q.recall, q.precision_by_account, q.lift, q.lead_time_days) == (None,) * 4
    assert q.chance_period == 0.0
    assert q.alerts_per_csm_week is None
