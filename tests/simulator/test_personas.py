"""Each persona does what it claims, measured from the events it emits, not from its script."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from engine.simulator import Persona
from tests.simulator.conftest import Quarter
from topics.models import BillingEvent, InputEvent, SurveyResponse, TicketEvent, UsageEvent


def _accounts(quarter: Quarter, persona: Persona) -> dict[str, list[InputEvent]]:
    truth = quarter.simulation.truth()
    events = quarter.by_account()
    chosen = {a: events[a] for a, t in truth.items() if t.persona is persona}
    assert len(chosen) >= 10
    return chosen


def _logins(events: list[InputEvent], start: datetime, end: datetime) -> int:
    return sum(
        1
        for e in events
        if isinstance(e, UsageEvent) and e.name == "Signed In" and start <= e.occurred_at < end
    )


def _cancellations(events: list[InputEvent]) -> list[datetime]:
    return [
        e.occurred_at
        for e in events
        if isinstance(e, BillingEvent) and e.action == "subscription_cancelled"
    ]


def test_cancellations_match_the_ground_truth(quarter: Quarter) -> None:
    events = quarter.by_account()
    for account_id, truth in quarter.simulation.truth().items():
        expected = [] if truth.cancelled_at is None else [truth.cancelled_at]
        assert _cancellations(events[account_id]) == expected, account_id
    by_persona = Counter(t.persona for t in quarter.simulation.truth().values() if t.cancelled_at)
    assert by_persona.keys() == {
        Persona.DECLINING_THEN_CANCELLING,
        Persona.PAYMENT_TROUBLE,
        Persona.TRIAL_NEVER_ADOPTS,
    }


def test_declining_accounts_log_in_less_week_after_week_then_cancel(quarter: Quarter) -> None:
    start = quarter.config.start
    declining = 0
    accounts = _accounts(quarter, Persona.DECLINING_THEN_CANCELLING)
    for events in accounts.values():
        (cancelled_at,) = _cancellations(events)
        first_fortnight = _logins(events, start, start + timedelta(days=14))
        last_fortnight = _logins(events, cancelled_at - timedelta(days=14), cancelled_at)
        declining += last_fortnight < 0.5 * first_fortnight
        tickets = [e for e in events if isinstance(e, TicketEvent) and e.action == "opened"]
        assert tickets, "declining accounts open tickets"
        scores = [e.score for e in events if isinstance(e, SurveyResponse)]
        assert scores
        assert max(scores) <= 6
    assert declining >= 0.8 * len(accounts)


def test_payment_trouble_fails_then_recovers_or_cancels(quarter: Quarter) -> None:
    outcomes: Counter[str] = Counter()
    for events in _accounts(quarter, Persona.PAYMENT_TROUBLE).values():
        billing = [e for e in events if isinstance(e, BillingEvent)]
        failed = [e for e in billing if e.action == "payment_failed"]
        assert failed
        recovered = [
            e
            for e in billing
            if e.action in ("payment_recovered", "invoice_paid")
            and e.invoice_id == failed[0].invoice_id
        ]
        outcomes[
            "recovered" if recovered else "cancelled" if _cancellations(events) else "open"
        ] += 1
    assert outcomes["recovered"] > 0
    assert outcomes["cancelled"] > 0


def test_growing_accounts_pass_80_percent_of_their_seats(quarter: Quarter) -> None:
    truth = quarter.simulation.truth()
    last_28_days = quarter.config.end - timedelta(days=28)
    past = 0
    accounts = _accounts(quarter, Persona.GROWING_PAST_LIMITS)
    for account_id, events in accounts.items():
        usage = [e for e in events if isinstance(e, UsageEvent)]
        active = {e.user_id for e in usage if e.user_id and e.occurred_at >= last_28_days}
        past += len(active) > 0.8 * truth[account_id].seats
        assert sum(e.name == "Account Added User" for e in usage) > 0
        assert sum(e.name == "Premium Feature Attempted" for e in usage) >= 3
    assert past >= 0.9 * len(accounts)


def test_promoters_answer_9_or_10_and_advocate(quarter: Quarter) -> None:
    for events in _accounts(quarter, Persona.PROMOTER_CHAMPION).values():
        scores = [e.score for e in events if isinstance(e, SurveyResponse)]
        assert scores
        assert min(scores) >= 9
        names = Counter(e.name for e in events if isinstance(e, UsageEvent))
        assert names["Community Post Created"] >= 5
        assert names["Referral Sent"] >= 2
        assert names["Training Completed"] >= 2
        assert names["Business Review Attended"] >= 2


def test_trials_touch_few_features_and_lapse(quarter: Quarter) -> None:
    for events in _accounts(quarter, Persona.TRIAL_NEVER_ADOPTS).values():
        features = {
            e.properties["feature"]
            for e in events
            if isinstance(e, UsageEvent) and e.name == "Feature Used"
        }
        assert len(features) <= 2
        names = {e.name for e in events if isinstance(e, UsageEvent)}
        assert "Trial Started" in names
        assert len(_cancellations(events)) == 1


def test_noisy_accounts_spike_then_recover_and_stay(quarter: Quarter) -> None:
    start = quarter.config.start
    for events in _accounts(quarter, Persona.NOISY_RECOVERING).values():
        opened = [
            e.occurred_at for e in events if isinstance(e, TicketEvent) and e.action == "opened"
        ]
        week_starts = [start + timedelta(days=d) for d in range(quarter.config.days - 7)]
        worst = max(week_starts, key=lambda w: sum(w <= t < w + timedelta(days=7) for t in opened))
        spike = sum(worst <= t < worst + timedelta(days=7) for t in opened)
        after = worst + timedelta(days=7)
        following = sum(after <= t < after + timedelta(days=14) for t in opened)
        assert spike >= 3
        assert following < spike
        assert _cancellations(events) == []
