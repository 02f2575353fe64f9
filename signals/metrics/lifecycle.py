"""Lifecycle metrics: how long an account has been observed, its contract, trial and
cancellation, and when anyone last used the product.

These let rules judge with enough data (``observed_days``), apply renewal rules to
contract renewals only (``days_to_contract_renewal``), judge trials relative to their
length (``trial_progress``) and treat any user's activity as presence
(``days_since_last_activity``; ``silent_days`` leaves the holidays out of it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from signals.config import SignalsConfig
from signals.holidays import holidays_between
from signals.metrics.registry import memoised, metric
from signals.state import (
    FACET_PROFILE,
    FACET_SUBSCRIPTION,
    FACET_TRIAL,
    FACET_USERS,
    SEEN_BILLING,
    SEEN_USAGE,
    AccountState,
    from_micros,
)
from signals.subscriptions import account_notice

_CONTRACT_DAYS: Final = 85
"""A billing term at least this long (a quarter or more) ends in a contract renewal."""
_DAYS_PER_INTERVAL: Final = {"day": 1, "week": 7, "month": 30, "year": 365}


@metric("observed_days", reads=0)
def observed_days(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
    """Whole days from the account's earliest event to the as-of day (0 on its first day)."""
    if state.first_us < 0:
        return None
    return float(max(0, as_of.toordinal() - from_micros(state.first_us).toordinal()))


@metric("days_since_last_activity", reads=FACET_USERS)
def days_since_last_activity(
    state: AccountState, as_of: datetime, config: SignalsConfig
) -> float | None:
    """Days since the last day any user did anything in the product (0: active today).

    Any user's event counts, not only sign-ins: a team working in a long-lived session
    is present. None when no user activity is retained at all.
    """
    today = as_of.toordinal()
    bucket = state.buckets.get(today)
    if bucket is not None and bucket.users:  # the common case, without a scan
        return 0.0
    active = [day for day, bucket in state.buckets.items() if bucket.users and day <= today]
    return float(today - max(active)) if active else None


@metric("silent_days", reads=FACET_USERS)
def silent_days(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
    """``days_since_last_activity`` without the holidays in it (``lifecycle.holidays``):
    on 3 January a team last seen on 19 December has been silent 15 days, 6 of them
    outside the break. None as ``days_since_last_activity``."""
    gap = memoised("days_since_last_activity", state, as_of, config)
    if not gap:
        return gap
    today = as_of.toordinal()
    return gap - holidays_between(today - int(gap) + 1, today, config.lifecycle.holidays)


@metric("holidays_14d", reads=FACET_USERS)
def holidays_14d(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
    """Holidays (``lifecycle.holidays``) among the last 14 whole days: a usage trend
    compares this fortnight with the ones before, and across the year-end break every
    team is down and every key user away. None for an account with no use to compare."""
    if not state.has(SEEN_USAGE):
        return None
    today = as_of.toordinal()
    return float(holidays_between(today - 14, today - 1, config.lifecycle.holidays))


def contract_term_days(state: AccountState) -> float | None:
    """Length of the billing term: from ``interval`` when the billing system says it,
    else from how far ahead the renewal date was when it was set."""
    interval = state.fact(state.billing, "interval")
    if interval in _DAYS_PER_INTERVAL:
        count = state.fact(state.billing, "interval_count") or 1
        return float(_DAYS_PER_INTERVAL[interval] * count)
    register = state.billing.get("renewal_day")
    if register is None:
        return None
    since = state.billing.get("renewal_since")
    if since is not None and since[2] == register[2]:
        register = since  # announced earlier: the term runs from then
    return float(register[2] - from_micros(register[0]).toordinal())


@metric("days_to_contract_renewal", reads=FACET_SUBSCRIPTION)
def days_to_contract_renewal(
    state: AccountState, as_of: datetime, config: SignalsConfig
) -> float | None:
    """Days to the renewal of a contract (a term of a quarter or more); None for a
    monthly subscription, whose every invoice is not a renewal decision."""
    if state.fact(state.billing, "status") == "cancelled":
        return None
    term = contract_term_days(state)
    renewal = state.fact(state.billing, "renewal_day")
    if term is None or renewal is None or term < _CONTRACT_DAYS:
        return None
    return float(renewal - as_of.toordinal())


@metric("contract_renewal_day", reads=FACET_SUBSCRIPTION)
def contract_renewal_day(
    state: AccountState, as_of: datetime, config: SignalsConfig
) -> float | None:
    """The contract's renewal date as a day number: names one renewal's episode."""
    if days_to_contract_renewal(state, as_of, config) is None:
        return None
    renewal = state.fact(state.billing, "renewal_day")
    return None if renewal is None else float(renewal)


def notice_stands(state: AccountState) -> bool:
    """A cancellation was scheduled in the current term. Where subscriptions name
    themselves, every live one is set to cancel (``account_notice``: an add-on set to
    cancel is not the account leaving). Otherwise the account's latest say on cancelling
    is yes, and no subscription started after it (a notice before a new start belonged
    to a term that ended). Compared by event time, so the order data arrives in is moot."""
    by_subscription = account_notice(state, _account_wide(state))
    return _account_wide(state) if by_subscription is None else by_subscription[0]


def _account_wide(state: AccountState) -> bool:
    """The notice of events naming no subscription: the latest say on cancelling is yes,
    and no subscription started after it."""
    notice = state.billing.get("cancel_scheduled")
    if notice is None or not notice[2]:
        return False
    started = state.billing.get("started")
    return started is None or (notice[0], notice[1]) >= (started[0], started[1])


def _scheduled(state: AccountState) -> bool:
    return notice_stands(state) and state.fact(state.billing, "status") != "cancelled"


@metric("cancellation_scheduled", reads=FACET_SUBSCRIPTION)
def cancellation_scheduled(
    state: AccountState, as_of: datetime, config: SignalsConfig
) -> float | None:
    """1 while the subscription is set to cancel at a future date, else 0."""
    if not state.has(SEEN_BILLING):
        return None
    return 1.0 if _scheduled(state) else 0.0


@metric("days_to_scheduled_cancellation", reads=FACET_SUBSCRIPTION)
def days_to_scheduled_cancellation(
    state: AccountState, as_of: datetime, config: SignalsConfig
) -> float | None:
    """Days until a scheduled cancellation takes effect (None when none is scheduled)."""
    by_subscription = account_notice(state, _account_wide(state))
    if by_subscription is not None:
        cancel_at = by_subscription[1]
    else:
        cancel_at = state.fact(state.billing, "cancel_at_us")
    if not _scheduled(state) or cancel_at is None:
        return None
    return float(from_micros(cancel_at).toordinal() - as_of.toordinal())


@metric("subscription_cancelled", reads=FACET_SUBSCRIPTION)
def subscription_cancelled(
    state: AccountState, as_of: datetime, config: SignalsConfig
) -> float | None:
    """1 once the subscription is cancelled (until it is started again), else 0."""
    status = state.fact(state.billing, "status")
    return None if status is None else float(status == "cancelled")


@metric("trial_progress", reads=FACET_TRIAL | FACET_PROFILE | FACET_SUBSCRIPTION)
def trial_progress(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
    """Share of the trial elapsed (0.5 is half way); None outside a trial.

    The billing system's trial dates (Stripe's ``trial_start``, ``trial_end``) say it
    exactly while that trial runs (unless a ``Trial Started`` came after it). Else the
    trial starts at ``Trial Started`` or when the profile entered the trial stage, and
    ends at the subscription's renewal date when that lies after the start, else after
    ``lifecycle.default_trial_days``.
    """
    stage = state.profile.get("lifecycle_stage")
    if stage is not None and stage[2] != "trial":
        return None
    billed = _billed_trial_days(state)
    today = as_of.toordinal()
    running = billed is not None and billed[0] <= today < billed[1]
    if billed is not None and running and state.trial_started_day <= billed[0]:
        return (today - billed[0]) / (billed[1] - billed[0])
    if state.trial_started_day >= 0:
        start = state.trial_started_day
    elif stage is not None:
        start = from_micros(stage[0]).toordinal()
    else:
        return None
    renewal = state.fact(state.billing, "renewal_day")
    length = renewal - start if renewal is not None and renewal > start else None
    if length is None:
        length = config.lifecycle.default_trial_days
    return (as_of.toordinal() - start) / length


def _billed_trial_days(state: AccountState) -> tuple[int, int] | None:
    """The latest billed trial's (first day, closing day), when it has both and length."""
    start = state.fact(state.billing, "trial_start_us")
    end = state.fact(state.billing, "trial_end_us")
    if start is None or end is None:
        return None
    first, close = from_micros(start).toordinal(), from_micros(end).toordinal()
    return (first, close) if close > first else None


def is_cancelled(state: AccountState) -> bool:
    return bool(state.fact(state.billing, "status") == "cancelled")


def cancellation_pending(state: AccountState) -> bool:
    """Cancelled, or set to cancel: no advocacy ask, no churn alert about it twice."""
    return is_cancelled(state) or _scheduled(state)
