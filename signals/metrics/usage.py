"""Product-usage metrics: activity, seats, logins, adoption, plan limits."""

from __future__ import annotations

from datetime import datetime
from functools import cache

from signals.config import SignalsConfig
from signals.folds import DailyUsers, DistinctFeatures, DistinctUsers, Peak, Sum, fold_days
from signals.metrics.registry import (
    DAY_SECONDS,
    DaySpan,
    completed_weeks,
    memoised,
    metric,
    ratio,
    weekly_trend,
    window,
)
from signals.state import (
    API_CALLS,
    CORE_USES,
    DATA_GB,
    FACET_FEATURES,
    FACET_LAST_LOGIN,
    FACET_PROFILE,
    FACET_SUBSCRIPTION,
    FACET_TRIAL,
    FACET_USERS,
    LOGINS,
    SEATS_ADDED,
    SEATS_REMOVED,
    SEEN_USAGE,
    AccountState,
    counter_bit,
    from_micros,
    micros,
    user_hash,
)

# -- usage ---------------------------------------------------------------------


def _avg_dau_28d(state: AccountState, as_of: datetime) -> float | None:
    return window(state, DailyUsers(), as_of, 28) / 28 if state.has(SEEN_USAGE) else None


@metric("stickiness", reads=FACET_USERS)
def stickiness(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
    """DAU/MAU: average daily users over 28 days against distinct users in them."""
    mau = window(state, DistinctUsers(), as_of, 28) if state.has(SEEN_USAGE) else None
    return ratio(_avg_dau_28d(state, as_of), mau)


@metric("seat_utilisation", reads=FACET_USERS | FACET_SUBSCRIPTION | FACET_PROFILE)
def seat_utilisation(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
    active = memoised("active_users_28d", state, as_of, config)
    return ratio(active, memoised("seats_purchased", state, as_of, config))


@metric("dau_share_of_seats", reads=FACET_USERS | FACET_SUBSCRIPTION | FACET_PROFILE)
def dau_share_of_seats(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
    return ratio(_avg_dau_28d(state, as_of), memoised("seats_purchased", state, as_of, config))


@metric("seats_net_added_28d", reads=counter_bit(SEATS_ADDED) | counter_bit(SEATS_REMOVED))
def seats_net_added_28d(
    state: AccountState, as_of: datetime, config: SignalsConfig
) -> float | None:
    if not state.has(SEEN_USAGE):
        return None
    added = window(state, Sum(SEATS_ADDED), as_of, 28)
    return added - window(state, Sum(SEATS_REMOVED), as_of, 28)


def _iso_week_logins(state: AccountState, as_of: datetime, weeks_back: int) -> float | None:
    """Logins in the completed ISO week ``weeks_back`` weeks before the current one."""
    if not state.has(SEEN_USAGE):
        return None
    monday = as_of.toordinal() - as_of.weekday() - 7 * weeks_back
    return fold_days(state, Sum(LOGINS), monday, monday + 6)


@metric("logins_week", reads=counter_bit(LOGINS), days=completed_weeks(1))
def logins_week(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
    """Logins in the last completed ISO week (Monday to Sunday)."""
    return _iso_week_logins(state, as_of, 1)


@metric("logins_prior_week", reads=counter_bit(LOGINS), days=completed_weeks(2))
def logins_prior_week(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
    return _iso_week_logins(state, as_of, 2)


@metric("logins_wow_change", reads=counter_bit(LOGINS), days=completed_weeks(2))
def logins_wow_change(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
    """Relative week-over-week change of completed ISO weeks: -0.4 is a 40% drop."""
    last, prior = _iso_week_logins(state, as_of, 1), _iso_week_logins(state, as_of, 2)
    change = ratio(last, prior)
    return None if change is None else change - 1


@metric("feature_adoption_28d", reads=FACET_FEATURES)
def feature_adoption_28d(
    state: AccountState, as_of: datetime, config: SignalsConfig
) -> float | None:
    """Distinct core features used in 28 days over the core features configured."""
    core = config.usage.core_features
    if not core or not state.has(SEEN_USAGE):
        return None
    used = window(state, _core_features(core), as_of, 28)
    return used / len(core)


@cache
def _core_features(core: tuple[str, ...]) -> DistinctFeatures:
    """The fold over a configuration's core features, digested once per configuration."""
    return DistinctFeatures(frozenset(map(user_hash, core)))


@metric("api_calls_day_vs_limit", reads=counter_bit(API_CALLS) | FACET_SUBSCRIPTION)
def api_calls_day_vs_limit(
    state: AccountState, as_of: datetime, config: SignalsConfig
) -> float | None:
    """The busiest day's API calls in the last 7 days over the plan's daily limit."""
    if not state.has(counter_bit(API_CALLS)):
        return None
    busiest = window(state, Peak(API_CALLS), as_of, 7)
    return ratio(busiest, state.fact(state.billing, "api_calls_per_day_limit"))


@metric("data_volume_vs_limit", reads=counter_bit(DATA_GB) | FACET_SUBSCRIPTION)
def data_volume_vs_limit(
    state: AccountState, as_of: datetime, config: SignalsConfig
) -> float | None:
    """The latest data-volume reading (within 28 days) over the tier limit."""
    if not state.has(counter_bit(DATA_GB)):
        return None
    today = as_of.toordinal()
    for day in range(today, today - 28, -1):
        bucket = state.buckets.get(day)
        if bucket is not None and bucket.counts[DATA_GB]:
            return ratio(bucket.counts[DATA_GB], state.fact(state.billing, "data_volume_limit_gb"))
    return None


@metric("core_usage_vs_prior_4w", reads=counter_bit(CORE_USES))
def core_usage_vs_prior_4w(
    state: AccountState, as_of: datetime, config: SignalsConfig
) -> float | None:
    """Core-feature uses in the last 7 days against the prior 4-week weekly average, minus 1."""
    if not state.has(counter_bit(CORE_USES)):
        return None
    return weekly_trend(state, as_of, CORE_USES, 0.0)


@metric("days_since_last_login", reads=FACET_LAST_LOGIN, moves=lambda state: True)
def days_since_last_login(
    state: AccountState, as_of: datetime, config: SignalsConfig
) -> float | None:
    """Days since anyone logged in, as of ``as_of`` (day-exact for a past ``as_of``)."""
    if 0 <= state.last_login_us <= micros(as_of):
        return (as_of - from_micros(state.last_login_us)).total_seconds() / DAY_SECONDS
    today = as_of.toordinal()
    for day in range(today, today - config.retention_days, -1):
        bucket = state.buckets.get(day)
        if bucket is not None and bucket.counts[LOGINS]:
            return float(today - day)
    return None


@metric("days_in_trial_or_onboarding", reads=FACET_TRIAL | FACET_PROFILE)
def days_in_trial_or_onboarding(
    state: AccountState, as_of: datetime, config: SignalsConfig
) -> float | None:
    """Days since the trial started, or since the profile entered trial or onboarding."""
    stage = state.profile.get("lifecycle_stage")
    if stage is not None and stage[2] not in ("trial", "onboarding"):
        return None
    if state.trial_started_day >= 0:
        return float(as_of.toordinal() - state.trial_started_day)
    if stage is None:
        return None
    return float(as_of.toordinal() - from_micros(stage[0]).toordinal())


# -- usage against the account's own baseline ------------------------------------------


def last_whole_day(as_of: datetime) -> int:
    """The last day wholly before ``as_of``: a trend compares whole days only. Counting
    the day ``as_of`` falls in would, at a midnight tick, put an empty day in the recent
    window against whole days in the baseline: every account would read about 7% down."""
    return as_of.toordinal() - 1


def _whole_days(first: int, last: int) -> DaySpan:
    """The days ``today - first .. today - last`` (whole days before the as-of day): an
    event of the day itself leaves a memoised value standing (``registry.memoised``)."""

    def span(today: int) -> tuple[int, int]:
        return today - first, today - last

    return span


def _user_days(state: AccountState, today: int, first: int, last: int) -> float:
    """Daily active users summed over days ``today - first .. today - last``."""
    return fold_days(state, DailyUsers(), today - first, today - last)


@metric("active_user_days_14d", reads=FACET_USERS, days=_whole_days(14, 1))
def active_user_days_14d(
    state: AccountState, as_of: datetime, config: SignalsConfig
) -> float | None:
    """Daily active users summed over the last 14 whole days (a user active on 3 days
    counts 3); the day ``as_of`` falls in is not counted until it is over."""
    if not state.has(SEEN_USAGE):
        return None
    return _user_days(state, last_whole_day(as_of), 13, 0)


@metric("active_user_days_baseline_14d", reads=FACET_USERS, days=_whole_days(42, 15))
def active_user_days_baseline_14d(
    state: AccountState, as_of: datetime, config: SignalsConfig
) -> float | None:
    """The account's own baseline: active user-days per 14 days over the 28 days before
    the last 14. Rules put a floor on it, so that a handful of users is not a trend."""
    if not state.has(SEEN_USAGE):
        return None
    return _user_days(state, last_whole_day(as_of), 41, 14) / 2


@metric("usage_vs_baseline", reads=FACET_USERS, days=_whole_days(42, 1))
def usage_vs_baseline(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
    """Active user-days of the last 14 days against the account's own baseline, minus 1:
    -0.5 is half the usual activity. None without a baseline (no usage before)."""
    recent = memoised("active_user_days_14d", state, as_of, config)
    change = ratio(recent, memoised("active_user_days_baseline_14d", state, as_of, config))
    return None if change is None else change - 1


@metric("usage_drop_z", reads=FACET_USERS, days=_whole_days(42, 1))
def usage_drop_z(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
    """How far below its baseline the last 14 days' use is, in units of the spread
    counting noise alone would give (recent - baseline) / sqrt(baseline).

    Small numbers lie: 2 user-days instead of 4 is half, and noise; 50 instead of 100
    is half, and news. A rule asks for both the share and this distance."""
    recent = memoised("active_user_days_14d", state, as_of, config)
    baseline = memoised("active_user_days_baseline_14d", state, as_of, config)
    if recent is None or not baseline:
        return None
    return float((recent - baseline) / baseline**0.5)


USAGE_SPREAD: float = 0.2
"""How much an account's fortnightly use moves with nothing wrong, as a share of it.

Usage is not a count of independent events: holidays, release weeks and project cycles
move a fortnight's active user-days by 10-25% at every account size. Counting noise
alone (``usage_drop_z``) calls a 10% dip of a 500-seat account "-3 sigma"."""


@metric("usage_change_z", reads=FACET_USERS, days=_whole_days(42, 1))
def usage_change_z(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
    """The last 14 days' use against the account's baseline, in units of the spread use
    really has: counting noise plus ``USAGE_SPREAD`` of the baseline, in quadrature
    (a negative binomial's variance). About -0.5 for a normal dip of any account, -3
    for a 60% fall of a large one or a collapse of a small one. Health reads it."""
    recent = memoised("active_user_days_14d", state, as_of, config)
    baseline = memoised("active_user_days_baseline_14d", state, as_of, config)
    if recent is None or not baseline:
        return None
    return float((recent - baseline) / (baseline + (USAGE_SPREAD * baseline) ** 2) ** 0.5)
