"""User -> account resolution for usage events that arrive without an account.

A Segment ``group`` call (UserLink) maps a user to an account; later user-only events
resolve through it. An event whose user is not mapped yet is parked for a bounded
time and released when the link arrives; only then is it rejected, with the reason.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from signals.errors import Rejection
from topics.models import UsageEvent, UserLink


class UserResolver:
    """Per-user links (latest by event time, event id breaking ties) and parked events."""

    def __init__(self, park_for: timedelta) -> None:
        self.park_for = park_for
        self.links: dict[str, tuple[datetime, str, str]] = {}
        """user id -> (link time, link event id, account id)"""
        self.parked: dict[str, list[tuple[datetime, UsageEvent]]] = {}
        """user id -> [(parked at, event)]"""

    def link(self, link: UserLink) -> list[UsageEvent]:
        """Record a link; returns the user's parked events, now attributed to the account."""
        current = self.links.get(link.user_id)
        if current is None or (link.occurred_at, link.event_id) > current[:2]:
            self.links[link.user_id] = (link.occurred_at, link.event_id, link.account_id)
        account = self.links[link.user_id][2]
        waiting = self.parked.pop(link.user_id, [])
        return [event.model_copy(update={"account_id": account}) for _, event in waiting]

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
        self.parked.setdefault(event.user_id, []).append((now, event))
        return None

    def expire(self, now: datetime) -> list[Rejection]:
        """Reject events parked longer than ``park_for``: their user never got an account."""
        rejections: list[Rejection] = []
        for user, waiting in list(self.parked.items()):
            keep = [(at, e) for at, e in waiting if now - at < self.park_for]
            for at, event in waiting:
                if now - at >= self.park_for:
                    message = f"user {user!r} was not linked to an account within {self.park_for}"
                    rejections.append(Rejection("unresolved_user", event.event_id, message))
            if keep:
                self.parked[user] = keep
            else:
                del self.parked[user]
        return rejections
