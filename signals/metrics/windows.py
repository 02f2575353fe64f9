"""Counted windows over the daily buckets, one table row per metric."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from signals.config import SignalsConfig
from signals.folds import DistinctUsers, Fold, Sum
from signals.metrics.registry import Metric, metric, window
from signals.state import (
    COMMUNITY,
    CORE_USES,
    FACET_USERS,
    INVITES,
    LOGINS,
    PREMIUM_ATTEMPTS,
    REFERRALS,
    REVIEWS,
    SEEN_TICKETS,
    SEEN_USAGE,
    TICKETS_HIGH_OPENED,
    TICKETS_OPENED,
    TRAININGS,
    AccountState,
    counter_bit,
)

# -- counted windows: (name, fold, days, bits that make it "data", facets it reads) ------

_COUNTED: Final[tuple[tuple[str, Fold[Any], int, int, int], ...]] = (
    ("active_users_7d", DistinctUsers(), 7, SEEN_USAGE, FACET_USERS),
    ("active_users_28d", DistinctUsers(), 28, SEEN_USAGE, FACET_USERS),
    ("premium_attempts_7d", Sum(PREMIUM_ATTEMPTS), 7, SEEN_USAGE, counter_bit(PREMIUM_ATTEMPTS)),
    ("logins_7d", Sum(LOGINS), 7, SEEN_USAGE, counter_bit(LOGINS)),
    ("core_uses_7d", Sum(CORE_USES), 7, SEEN_USAGE, counter_bit(CORE_USES)),
    ("invites_sent_28d", Sum(INVITES), 28, SEEN_USAGE, counter_bit(INVITES)),
    ("tickets_opened_7d", Sum(TICKETS_OPENED), 7, SEEN_TICKETS, counter_bit(TICKETS_OPENED)),
    ("tickets_opened_30d", Sum(TICKETS_OPENED), 30, SEEN_TICKETS, counter_bit(TICKETS_OPENED)),
    (
        "tickets_high_urgent_opened_7d",
        Sum(TICKETS_HIGH_OPENED),
        7,
        SEEN_TICKETS,
        counter_bit(TICKETS_HIGH_OPENED),
    ),
    ("referrals_30d", Sum(REFERRALS), 30, counter_bit(REFERRALS), counter_bit(REFERRALS)),
    ("community_30d", Sum(COMMUNITY), 30, counter_bit(COMMUNITY), counter_bit(COMMUNITY)),
)


def _counted(fold: Fold[Any], days: int, bits: int) -> Metric:
    def compute(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
        return window(state, fold, as_of, days) if state.has(bits) else None

    return compute


for _name, _fold, _days, _bits, _reads in _COUNTED:
    metric(_name, reads=_reads)(_counted(_fold, _days, _bits))


def _horizon(counter: int) -> Metric:
    """A count over the whole retention horizon (trainings, business reviews)."""

    def compute(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
        if not state.has(counter_bit(counter)):
            return None
        return window(state, Sum(counter), as_of, config.retention_days)

    return compute


metric("trainings_completed", reads=counter_bit(TRAININGS))(_horizon(TRAININGS))
metric("business_reviews_attended", reads=counter_bit(REVIEWS))(_horizon(REVIEWS))
