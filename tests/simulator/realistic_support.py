"""Helpers for the realistic preset's tests: render chosen accounts, decode what they send."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

import orjson

from engine.simulator.activity import Draft
from engine.simulator.realistic.activity import RealisticActivity
from engine.simulator.realistic.build import build_population
from engine.simulator.realistic.outages import Outages
from topics.catalogue import TopicKind
from topics.codec import decode_input
from topics.models import BillingEvent, InputEvent

START = date(2026, 7, 1)


def population(accounts: int, days: int, seed: int = 5) -> tuple[list[RealisticActivity], Outages]:
    return build_population(
        accounts=accounts,
        seed=seed,
        start=START,
        days=days,
        segment_share=0.5,
        stripe_share=0.5,
        user_only_share=0.3,
    )


def render(activity: RealisticActivity, days: int) -> list[Draft]:
    """One account's drafts over the period, as the generator would keep them."""
    begins = datetime.combine(START, time(), tzinfo=UTC)
    ends = begins + timedelta(days=days)
    return [d for i in range(days) for d in activity.day(i) if begins <= d.at < ends]


def decode(drafts: Iterable[Draft]) -> list[InputEvent]:
    return [decode_input(d.kind, orjson.dumps(d.message)) for d in drafts]


def billing(drafts: Iterable[Draft]) -> list[BillingEvent]:
    events = decode(d for d in drafts if d.kind is TopicKind.BILLING)
    return [e for e in events if isinstance(e, BillingEvent)]


def daily_users(drafts: Iterable[Draft]) -> dict[date, set[str]]:
    """Distinct users with a usage event, per UTC day (as the engine buckets them)."""
    users: dict[date, set[str]] = {}
    for draft in drafts:
        if draft.kind is TopicKind.USAGE and draft.user_id is not None:
            users.setdefault(draft.at.date(), set()).add(draft.user_id)
    return users
