"""Every account's input events, in event-time order, as the engine would have seen them,
kept small enough for a year of a thousand accounts.

Duplicates (same topic and event id) count once, and user-only Segment usage events are
attributed through `signals.resolve.UserResolver` exactly as `signals.replay` does: a
``group`` call links a user to an account, an event whose user is not linked yet waits
(one day by default) and is dropped if no link comes.

The outcomes and the baseline read few kinds of event, so that is all an account keeps:
its billing, ticket, survey, profile and group events and its trial starts in full, and
of ordinary product usage only who was active on which day (``users_by_day``). Usage is
nearly every event; keeping it whole held gigabytes for a year of history.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from engine.evaluation.model import DAY
from signals.attribution import Attribution
from signals.ingest import AccountEvent
from signals.state import EPOCH
from topics.models import CommandBase, InputEvent, TriggerFeedback, UsageEvent, UserLink

TRIAL_STARTED = "Trial Started"
"""Segment's B2B SaaS spec name for the start of a trial."""


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
class AccountHistory:
    """One account's history, as much of it as the evaluation reads."""

    events: list[InputEvent] = field(default_factory=list)
    """Every event but ordinary usage, by (occurred_at, event_id): billing, tickets,
    surveys, profiles, group calls and trial starts."""
    users_by_day: dict[date, set[str]] = field(default_factory=dict)
    """Day (UTC) -> the users with any usage event that day."""
    first_at: datetime | None = None
    last_at: datetime | None = None

    @classmethod
    def of(cls, events: Iterable[InputEvent]) -> AccountHistory:
        """An account's history from its events (any order)."""
        history = cls()
        for event in sorted(events, key=lambda e: (e.occurred_at, e.event_id)):
            history.add(event)
        history.events.sort(key=lambda e: (e.occurred_at, e.event_id))
        return history

    def add(self, event: InputEvent) -> None:
        at = event.occurred_at
        self.first_at = at if self.first_at is None else min(self.first_at, at)
        self.last_at = at if self.last_at is None else max(self.last_at, at)
        if isinstance(event, UsageEvent) and event.name != TRIAL_STARTED:
            if event.user_id is not None:
                users = self.users_by_day.setdefault(at.date(), set())
                users.add(sys.intern(event.user_id))
            return
        self.events.append(event)


@dataclass
class EventHistory:
    accounts: dict[str, AccountHistory] = field(default_factory=dict)
    read: int = 0
    """Input events read once each (a group call is one, though it lands on its account
    both as a link and as the profile its traits carry)."""
    duplicates: int = 0
    unresolved: int = 0
    """User-only usage events whose user was never linked to an account in time."""
    first_event: datetime | None = None
    last_event: datetime | None = None
    feedback: list[TriggerFeedback] = field(default_factory=list)
    """CSM feedback on triggers, from the commands topic; other commands are not
    observations of the account and are left out."""

    def summary(self, rejected_lines: int = 0) -> EventsRead:
        return EventsRead(
            events=self.read,
            accounts=len(self.accounts),
            duplicates=self.duplicates,
            unresolved=self.unresolved,
            rejected_lines=rejected_lines,
            first_event=self.first_event,
            last_event=self.last_event,
        )

    def add(self, account_id: str, event: InputEvent) -> None:
        account = self.accounts.get(account_id)
        if account is None:
            account = self.accounts[account_id] = AccountHistory()
        account.add(event)


def build_history(
    events: Iterable[tuple[str, InputEvent]], park_for: timedelta = DAY
) -> EventHistory:
    """Group decoded ``(topic, event)`` pairs by account.

    ``events`` must come in (event time, event id) order, as ``engine.event_file``'s
    external sort gives them: it is streamed, never held. A duplicate is a redelivery
    of the same event, so it has the same time and id as the one before it.
    """
    history = EventHistory()
    attribution = Attribution(park_for)
    next_day: datetime | None = None
    for event in _unique(events, history):
        if isinstance(event, CommandBase):  # what CSMs said, not what the account did
            if isinstance(event, TriggerFeedback):
                history.feedback.append(event)
            continue
        history.read += 1
        if history.first_event is None:
            history.first_event = event.occurred_at
        history.last_event = event.occurred_at
        if next_day is None:
            next_day = EPOCH + ((event.occurred_at - EPOCH) // DAY + 1) * DAY
        while next_day <= event.occurred_at:
            history.unresolved += len(attribution.expire(next_day))
            next_day += DAY
        if isinstance(event, UserLink):
            history.add(event.account_id, event)
        routed, unresolved = attribution.route(event, event.occurred_at)
        history.unresolved += len(unresolved)
        for each in routed:
            _add(history, each)
    history.unresolved += attribution.waiting()
    for account in history.accounts.values():  # released events arrive after later ones
        account.events.sort(key=lambda e: (e.occurred_at, e.event_id))
    return history


def _unique(
    events: Iterable[tuple[str, InputEvent]], history: EventHistory
) -> Iterator[InputEvent]:
    """The events without their redeliveries (counted in ``history.duplicates``)."""
    last_key: tuple[datetime, str] | None = None
    topics: set[str] = set()
    """The topics seen at ``last_key``: a duplicate repeats topic, time and id."""
    for topic, event in events:
        key = (event.occurred_at, event.event_id)
        if key != last_key:
            if last_key is not None and key < last_key:
                msg = f"events out of order: {key} after {last_key}"
                raise ValueError(msg)
            last_key, topics = key, set()
        elif topic in topics:
            history.duplicates += 1
            continue
        topics.add(topic)
        yield event


def _add(history: EventHistory, event: AccountEvent) -> None:
    if event.account_id is not None:
        history.add(event.account_id, event)
