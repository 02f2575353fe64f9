"""Contract calendars: when monthly and annual subscriptions renew.

A monthly subscription renews on its billing day every month, an annual one on
the same date every year, as Stripe's billing cycle anchor does. Billing days
are kept to the 1st-28th so that every month has one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from typing import Literal

Contract = Literal["monthly", "annual"]

INTERVALS: dict[Contract, str] = {"monthly": "month", "annual": "year"}
"""The Stripe / BillingEvent interval of each contract."""


def next_period_end(period_end: date, contract: Contract) -> date:
    """The period end after `period_end`: a month or a year later, same day."""
    if contract == "annual":
        return period_end.replace(year=period_end.year + 1)
    if period_end.month == 12:
        return period_end.replace(year=period_end.year + 1, month=1)
    return period_end.replace(month=period_end.month + 1)


def first_period_end(after: date, billing_day: int) -> date:
    """The first date strictly after `after` that falls on `billing_day` (1-28)."""
    candidate = after.replace(day=billing_day)
    return candidate if candidate > after else next_period_end(candidate, "monthly")


def period_ends(first: date, contract: Contract, until: date) -> Iterator[date]:
    """Every period end from `first` (included) to `until` (excluded)."""
    end = first
    while end < until:
        yield end
        end = next_period_end(end, contract)


def midnight(day: date) -> datetime:
    """A period boundary: Stripe periods here start and end at midnight UTC."""
    return datetime.combine(day, time(), tzinfo=UTC)


def safe_anniversary(day: date) -> date:
    """`day`, moved off 29 February so that it recurs every year."""
    return day.replace(day=28) if (day.month, day.day) == (2, 29) else day
