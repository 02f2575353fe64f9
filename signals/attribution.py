"""Which account each input event is for, in event-time order: the one implementation
``pulse replay`` and every offline reader (evaluation, tuning) share.

A worker does the same across its two agents (engine.runtime.accounts and .users):
links, aliases and events naming only a user or a billing customer go through the
users agent, which learns the links (``signals.resolve``) before it forwards the event;
a group call's account traits go on to the account as a profile.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from signals.errors import Rejection
from signals.ingest import AccountEvent
from signals.resolve import UserResolver, customer_link
from topics.models import BillingEvent, InputEvent, UsageEvent, UserAlias, UserLink

__all__ = ["Attribution"]


class Attribution:
    """Links, aliases and parked events; ``route`` says what an event gives to accounts."""

    def __init__(self, park_for: timedelta) -> None:
        self.resolver = UserResolver(park_for)

    def route(self, event: InputEvent, now: datetime) -> tuple[list[AccountEvent], list[Rejection]]:
        """The events, each with its account, that ``event`` gives at ``now``, in the order
        to apply them (what a link releases before the event itself), and the events
        rejected because they waited too long for a link."""
        if isinstance(event, UserLink):
            released, refused = self.resolver.link(event)
            traits = [] if event.account_traits is None else [event.account_traits]
            return [*released, *traits], refused
        if isinstance(event, UserAlias):
            released, refused = self.resolver.alias(event)
            return list(released), refused
        out: list[AccountEvent] = []
        refused = []
        learned = customer_link(event)
        if learned is not None:  # first, as a worker's users agent learns it
            released, refused = self.resolver.link(learned)
            out += released
        if isinstance(event, UsageEvent | BillingEvent):
            resolved = self.resolver.resolve(event, now)
            if resolved is None:
                return out, refused
            event = resolved
        return [*out, event], refused

    def expire(self, now: datetime) -> list[Rejection]:
        """Events that waited ``park_for`` for a link and got none."""
        return self.resolver.expire(now)

    def waiting(self) -> int:
        """Events still waiting for a link."""
        return sum(len(events) for events in self.resolver.parked.values())
