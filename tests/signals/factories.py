"""Event factories for signals tests: terse, deterministic, timezone-aware."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

from topics.models import AccountProfile, BillingEvent, SurveyResponse, TicketEvent, UsageEvent

ACCOUNT = "acme"
MONDAY = datetime(2026, 10, 5, tzinfo=UTC)
"""Monday of ISO week 2026-W41: the tests' day 0."""

_ids = itertools.count()


def at(day: float, hour: float = 12) -> datetime:
    """``day`` days after MONDAY, at ``hour`` UTC."""
    return MONDAY + timedelta(days=day, hours=hour)


def _eid(eid: str | None) -> str:
    return eid if eid is not None else f"e{next(_ids)}"


def usage(
    name: str,
    when: datetime,
    user: str | None = "u1",
    eid: str | None = None,
    account: str | None = ACCOUNT,
    **properties: Any,
) -> UsageEvent:
    return UsageEvent(
        event_id=_eid(eid),
        occurred_at=when,
        account_id=account,
        user_id=user,
        name=name,
        properties=properties,
    )


def login(when: datetime, user: str = "u1", eid: str | None = None) -> UsageEvent:
    return usage("Signed In", when, user=user, eid=eid)


def ticket(
    action: str,
    when: datetime,
    ticket_id: str = "t1",
    *,
    priority: str = "normal",
    csat: int | None = None,
    eid: str | None = None,
) -> TicketEvent:
    return TicketEvent.model_validate(
        {
            "event_id": _eid(eid),
            "occurred_at": when,
            "account_id": ACCOUNT,
            "ticket_id": ticket_id,
            "action": action,
            "priority": priority,
            "csat": csat,
        }
    )


def billing(action: str, when: datetime, eid: str | None = None, **fields: Any) -> BillingEvent:
    return BillingEvent.model_validate(
        {"event_id": _eid(eid), "occurred_at": when, "account_id": ACCOUNT, "action": action}
        | fields
    )


def subscription(
    when: datetime,
    seats: int = 10,
    mrr: float = 1000.0,
    renewal: date | None = None,
    eid: str | None = None,
    **fields: Any,
) -> BillingEvent:
    return billing(
        "subscription_started",
        when,
        eid=eid,
        seats_purchased=seats,
        mrr=mrr,
        renewal_date=renewal,
        **fields,
    )


def nps(
    score: int,
    when: datetime,
    respondent: str = "r1",
    role: str | None = None,
    eid: str | None = None,
) -> SurveyResponse:
    return SurveyResponse.model_validate(
        {
            "event_id": _eid(eid),
            "occurred_at": when,
            "account_id": ACCOUNT,
            "respondent_id": respondent,
            "score": score,
            "role": role,
        }
    )


def profile(when: datetime, eid: str | None = None, **fields: Any) -> AccountProfile:
    return AccountProfile.model_validate(
        {"event_id": _eid(eid), "occurred_at": when, "account_id": ACCOUNT} | fields
    )
