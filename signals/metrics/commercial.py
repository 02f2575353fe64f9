"""Billing, feedback and relationship metrics."""

from __future__ import annotations

from datetime import datetime

from signals.config import SignalsConfig
from signals.metrics.registry import DAY_SECONDS, Metric, metric
from signals.state import (
    FACET_NPS,
    FACET_PAYMENTS,
    FACET_PROFILE,
    FACET_SUBSCRIPTION,
    SEEN_BILLING,
    SEEN_PROFILE,
    AccountState,
    from_micros,
)

# -- billing ---------------------------------------------------------------------


def _billing_fact(field: str) -> Metric:
    def compute(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
        value = state.fact(state.billing, field)
        return None if value is None else float(value)

    return compute


mrr = metric("mrr", reads=FACET_SUBSCRIPTION)(_billing_fact("mrr"))


@metric("seats_purchased", reads=FACET_SUBSCRIPTION | FACET_PROFILE)
def seats_purchased(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
    """Seats of the live subscriptions; where billing names none (an account not billed
    through a connected system), the seats its profile gives (CRM, Segment group traits)."""
    value = state.fact(state.billing, "seats_purchased")
    if value is None:
        value = state.fact(state.profile, "seats")
    return None if value is None else float(value)


@metric("days_at_seats", reads=FACET_SUBSCRIPTION)
def days_at_seats(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
    """Whole days since billing's seat count last changed (or was first seen): a month
    of active users measured against seats bought or cut within it mixes two teams."""
    since = state.billing.get("seats_since")
    if since is None:
        return None
    return float(max(0, as_of.toordinal() - from_micros(since[0]).toordinal()))


@metric("days_to_renewal", reads=FACET_SUBSCRIPTION)
def days_to_renewal(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
    renewal = state.fact(state.billing, "renewal_day")
    return None if renewal is None else float(renewal - as_of.toordinal())


def _unresolved_since(state: AccountState) -> list[int]:
    """For each unresolved invoice, its first failure after the last resolution (µs)."""
    return [min(t for t in v[1:] if t > v[0]) for v in state.payments.values() if max(v) > v[0]]


@metric("failed_payments_unresolved", reads=FACET_PAYMENTS)
def failed_payments_unresolved(
    state: AccountState, as_of: datetime, config: SignalsConfig
) -> float | None:
    return float(len(_unresolved_since(state))) if state.has(SEEN_BILLING) else None


@metric("unpaid_since_day", reads=FACET_PAYMENTS)
def unpaid_since_day(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
    """The day of the oldest unresolved payment failure: names one dunning episode."""
    since = _unresolved_since(state)
    return float(from_micros(min(since)).toordinal()) if since else None


def _payment_overdue(state: AccountState) -> bool:
    return any(max(v) > v[0] for v in state.payments.values())


@metric("days_past_due", reads=FACET_PAYMENTS, moves=_payment_overdue)
def days_past_due(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
    """Days since the oldest unresolved payment failure; 0 when payments are on time."""
    if not state.has(SEEN_BILLING):
        return None
    since = _unresolved_since(state)
    if not since:
        return 0.0
    return max(0.0, (as_of - from_micros(min(since))).total_seconds() / DAY_SECONDS)


# -- feedback and relationship -----------------------------------------------------


def _nps_scores(state: AccountState, as_of: datetime, config: SignalsConfig) -> list[int]:
    """The latest score of each respondent, if given within the NPS window."""
    today = as_of.toordinal()
    first = today - config.windows.nps_days + 1
    return [r[3] for r in state.nps.values() if first <= r[2] <= today]


def _nps_count(low: int, high: int) -> Metric:
    def compute(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
        scores = _nps_scores(state, as_of, config)
        return float(sum(1 for s in scores if low <= s <= high)) if scores else None

    return compute


metric("nps_promoters", reads=FACET_NPS)(_nps_count(9, 10))
metric("nps_passives", reads=FACET_NPS)(_nps_count(7, 8))
metric("nps_detractors", reads=FACET_NPS)(_nps_count(0, 6))


@metric("nps", reads=FACET_NPS)
def nps(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
    """Account NPS, -100..100: % promoters minus % detractors."""
    scores = _nps_scores(state, as_of, config)
    if not scores:
        return None
    promoters = sum(1 for s in scores if s >= 9)
    detractors = sum(1 for s in scores if s <= 6)
    return 100.0 * (promoters - detractors) / len(scores)


@metric("nps_avg_score_90d", reads=FACET_NPS)
def nps_avg_score_90d(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
    scores = _nps_scores(state, as_of, config)
    return sum(scores) / len(scores) if scores else None


@metric("executive_sponsor", reads=FACET_PROFILE)
def executive_sponsor(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
    """1 with an executive sponsor, 0 without, None when the CRM has not said."""
    if not state.has(SEEN_PROFILE):
        return None
    value = state.fact(state.profile, "executive_sponsor")
    return None if value is None else float(value)


@metric("acv", reads=FACET_PROFILE)
def acv(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
    value = state.fact(state.profile, "acv")
    return None if value is None else float(value)
