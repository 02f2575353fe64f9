"""User -> account resolution for usage events that arrive without an account.

A Segment ``group`` call (UserLink) maps a user to an account; later user-only events
resolve through it. An event whose user is not mapped yet is parked for a bounded
time of event time and released when the link arrives; only then is it rejected,
with the reason. The rules (latest link by event time, release within ``park_for``)
are ``signals.driver``'s, which the live worker follows too.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from signals.driver import expired, link_wins, released
from signals.errors import Rejection
from signals.state import micros
from topics.models import UsageEvent, UserLink


class UserResolver:
    """Per-user links (latest by event time, event id breaking ties) and parked events."""

    def __init__(self, park_for: timedelta) -> None:
        self.park_for = park_for
        self.park_us = park_for // timedelta(microseconds=1)
        self.links: dict[str, tuple[int, str, str]] = {}
        """user id -> (link time µs, link event id, account id)"""
        self.parked: dict[str, list[tuple[int, UsageEvent]]] = {}
        """user id -> [(parked at µs, event)]"""

    def link(self, link: UserLink) -> tuple[list[UsageEvent], list[Rejection]]:
        """Record a link; returns the user's parked events it releases, attributed to the
        account, and those that waited too long for it."""
        current = self.links.get(link.user_id)
        at = micros(link.occurred_at)
        if link_wins(None if current is None else current[:2], at, link.event_id):
            self.links[link.user_id] = (at, link.event_id, link.account_id)
        account = self.links[link.user_id][2]
        events: list[UsageEvent] = []
        rejections: list[Rejection] = []
        for parked_at, event in self.parked.pop(link.user_id, []):
            if released(parked_at, at, self.park_us):
                events.append(event.model_copy(update={"account_id": account}))
            else:
                rejections.append(self._unresolved(link.user_id, event))
        return events, rejections

    def resolve(self, event: UsageEvent, now: datetime) -> UsageEvent | None:
        """The event with its account, or None when it is parked to wait for a link."""
        if event.account_id is not None:
            return event
        if event.user_id is None:
            msg = f"usage event {event.event_id} has neither account nor user"
            raise ValueError(msg)
        link = self.links.get(event.user_id)
        if link is not None:
            return event.model_copy(update={"account_id": link[2]})
        self.parked.setdefault(event.user_id, []).append((micros(now), event))
        return None

    def expire(self, now: datetime) -> list[Rejection]:
        """Reject events parked longer than ``park_for``: their user never got an account."""
        now_us = micros(now)
        rejections: list[Rejection] = []
        for user, waiting in list(self.parked.items()):
            keep = [(at, e) for at, e in waiting if not expired(at, now_us, self.park_us)]
            rejections += [
                self._unresolved(user, e) for at, e in waiting if expired(at, now_us, self.park_us)
            ]
            if keep:
                self.parked[user] = keep
            else:
                del self.parked[user]
        return rejections

    def _unresolved(self, user: str, event: UsageEvent) -> Rejection:
        message = f"user {user!r} was not linked to an account within {self.park_for}"
        return Rejection("unresolved_user", event.event_id, message)
