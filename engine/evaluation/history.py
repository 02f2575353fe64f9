"""Every account's input events, in event-time order, as the engine would have seen them.

Duplicates (same topic and event id) count once, and user-only Segment usage events are
attributed through `signals.resolve.UserResolver` exactly as `signals.replay` does: a
``group`` call links a user to an account, an event whose user is not linked yet waits
(one day by default) and is dropped if no link comes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from engine.evaluation.model import DAY
from signals.resolve import UserResolver
from signals.state import EPOCH
from topics.models import InputEvent, UsageEvent, UserLink


@dataclass(frozen=True)
class EventsRead:
    """What reading the events found, for the report's footnote."""

    events: int
    accounts: int
    duplicates: int
    unresolved: int
    rejected_lines: int
    first_event: datetime | None
    last_event: datetime | None


@dataclass
class EventHistory:
    accounts: dict[str, list[InputEvent]] = field(default_factory=dict)
    """Account id -> its events (group calls included) by (occurred_at, event_id)."""
    duplicates: int = 0
    unresolved: int = 0
    """User-only usage events whose user was never linked to an account in time."""
    first_event: datetime | None = None
    last_event: datetime | None = None

    def summary(self, rejected_lines: int = 0) -> EventsRead:
        return EventsRead(
            events=sum(len(events) for events in self.accounts.values()),
            accounts=len(self.accounts),
            duplicates=self.duplicates,
            unresolved=self.unresolved,
            rejected_lines=rejected_lines,
            first_event=self.first_event,
            last_event=self.last_event,
        )


def build_history(
    events: Iterable[tuple[str, InputEvent]], park_for: timedelta = DAY
) -> EventHistory:
    """Group decoded ``(topic, event)`` pairs by account, in event-time order."""
    history = EventHistory()
    seen: set[tuple[str, str]] = set()
    unique: list[InputEvent] = []
    for topic, event in events:
        key = (topic, event.event_id)
        if key in seen:
            history.duplicates += 1
            continue
        seen.add(key)
        unique.append(event)
    unique.sort(key=lambda e: (e.occurred_at, e.event_id))
    if unique:
        history.first_event, history.last_event = unique[0].occurred_at, unique[-1].occurred_at
    resolver = UserResolver(park_for)
    next_day: datetime | None = None
    for event in unique:
        if next_day is None:
            next_day = EPOCH + ((event.occurred_at - EPOCH) // DAY + 1) * DAY
        while next_day <= event.occurred_at:
            history.unresolved += len(resolver.expire(next_day))
            next_day += DAY
        if isinstance(event, UserLink):
            history.accounts.setdefault(event.account_id, []).append(event)
            released, unresolved = resolver.link(event)
            history.unresolved += len(unresolved)
            for event_of_user in released:
                _add(history, event_of_user)
        elif isinstance(event, UsageEvent):
            resolved = resolver.resolve(event, event.occurred_at)
            if resolved is not None:
                _add(history, resolved)
        else:
            _add(history, event)
    history.unresolved += sum(len(waiting) for waiting in resolver.parked.values())
    for account_events in history.accounts.values():
        account_events.sort(key=lambda e: (e.occurred_at, e.event_id))
    return history


def _add(history: EventHistory, event: InputEvent) -> None:
    if not isinstance(event, UserLink) and event.account_id is not None:
        history.accounts.setdefault(event.account_id, []).append(event)
