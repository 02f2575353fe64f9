"""The bar to beat: three rules an analyst would write, run on the same events as Pulse.

Evaluated per account in event time, and only while the account is a customer (from
its first event to its cancellation):

- active users down: at the end of each day, the distinct users with any usage event in
  the last 14 days are below 60% of the average distinct users per 14 days over the 28
  days before, and that average is at least 1 user. Fires when the condition becomes
  true; re-arms once it clears.
- NPS detractor: every survey response of 6 or less.
- payment failed: a failed payment, once per invoice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta

from engine.evaluation.history import AccountHistory
from engine.evaluation.model import DAY, Alert, Outcome
from topics.models import BillingEvent, InputEvent, SurveyResponse

ACTIVE_USERS_DOWN = "baseline_active_users_down"
NPS_DETRACTOR = "baseline_nps_detractor"
PAYMENT_FAILED = "baseline_payment_failed"
BASELINE_RULES = (ACTIVE_USERS_DOWN, NPS_DETRACTOR, PAYMENT_FAILED)

RECENT_DAYS = 14
PRIOR_WINDOWS = 2
"""The prior 28 days, as two 14-day windows whose distinct users are averaged."""
DROP_BELOW = 0.6
MIN_PRIOR_USERS = 1.0
DETRACTOR_MAX_SCORE = 6


def baseline_alerts(
    histories: Mapping[str, AccountHistory], outcomes: Mapping[str, Outcome]
) -> list[Alert]:
    """The baseline's churn-risk alerts for every account in ``outcomes``, in time order."""
    alerts: list[Alert] = []
    for account, history in histories.items():
        outcome = outcomes.get(account)
        if outcome is None:
            continue
        until = outcome.observed_until
        current = [e for e in history.events if until is None or e.occurred_at < until]
        alerts += _surveys_and_payments(account, current)
        alerts += active_users_down(account, history, until)
    alerts.sort(key=lambda a: (a.fired_at, a.account_id, a.rule_id))
    return alerts


def _surveys_and_payments(account: str, events: Sequence[InputEvent]) -> list[Alert]:
    alerts: list[Alert] = []
    invoices: set[str] = set()
    for event in events:
        if isinstance(event, SurveyResponse) and event.score <= DETRACTOR_MAX_SCORE:
            alerts.append(Alert(account, NPS_DETRACTOR, "churn_risk", event.occurred_at))
        elif isinstance(event, BillingEvent) and event.action == "payment_failed":
            invoice = event.invoice_id or event.event_id
            if invoice not in invoices:
                invoices.add(invoice)
                alerts.append(Alert(account, PAYMENT_FAILED, "churn_risk", event.occurred_at))
    return alerts


def active_users_down(account: str, history: AccountHistory, until: datetime | None) -> list[Alert]:
    """Edge-triggered alerts at the end of each day (UTC) the drop condition turns true.

    Only the days before ``until`` are judged, so the users of ``until``'s own day
    (which ``history`` keeps by day, not by time) never count."""
    if history.first_at is None or history.last_at is None:
        return []
    if until is not None and history.first_at >= until:
        return []
    first = history.first_at.date()
    last = (until or history.last_at + DAY).date()
    distinct = _distinct_per_window(history.users_by_day, first, last)
    alerts: list[Alert] = []
    armed = True
    day = first
    while True:
        end_of_day = datetime.combine(day + DAY, time(), tzinfo=UTC)
        if (until is not None and end_of_day > until) or day > last:
            break
        recent = distinct.get(day, 0)
        prior = [distinct.get(day - timedelta(days=RECENT_DAYS * n), 0) for n in (1, 2)]
        prior_average = sum(prior) / PRIOR_WINDOWS
        down = prior_average >= MIN_PRIOR_USERS and recent < DROP_BELOW * prior_average
        if down and armed:
            alerts.append(Alert(account, ACTIVE_USERS_DOWN, "churn_risk", end_of_day))
        armed = not down
        day += DAY
    return alerts


def _distinct_per_window(
    users_by_day: Mapping[date, set[str]], first: date, last: date
) -> dict[date, int]:
    """Day -> distinct users over the 14 days ending with it (a sliding multiset)."""
    window: Counter[str] = Counter()
    distinct: dict[date, int] = {}
    day = first
    while day <= last:
        window.update(users_by_day.get(day, ()))
        leaving = users_by_day.get(day - timedelta(days=RECENT_DAYS), ())
        window.subtract(leaving)
        for user in leaving:
            if window[user] <= 0:
                del window[user]
        distinct[day] = len(window)
        day += DAY
    return distinct
