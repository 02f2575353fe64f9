"""Which account an event belongs to, when it arrives without one.

Two kinds of event may come without an account: usage naming only a user, and billing
naming only the billing system's customer (a Stripe invoice of a customer without
account metadata). Both resolve through links, keyed by an *identity*: the user id,
or the customer under ``CUSTOMER_PREFIX``.

- A Segment ``group`` call (UserLink) links a user to an account.
- An ``alias`` call (UserAlias) says an id is another id of a user: the id gets a
  link to the user's account (``derived_link``), at the alias if the user has a link,
  else at the user's next one. Only once: a worker keeps a user's links on one
  partition and the aliased id's on another, so a later move of the user could reach
  the id after its own later events, and the replay and a worker would disagree.
- A billing event naming both its account and its customer, and an account profile
  naming its ``billing_customer_id``, link the customer to the account
  (``customer_link``): links learned from the events themselves.

Later events of the identity resolve through its link. One whose identity has no link
yet is parked for a bounded time of event time and released when the link arrives;
only then is it rejected, with the reason. The rules (latest link by event time,
release within ``park_for``) are ``signals.driver``'s, which the live worker follows.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Final

from signals.driver import expired, link_wins, released
from signals.errors import Rejection, RejectionKind
from signals.state import from_micros, micros
from topics.models import (
    RESERVED_USER_PREFIX,
    AccountProfile,
    BillingEvent,
    InputEvent,
    UsageEvent,
    UserAlias,
    UserLink,
)

__all__ = [
    "CUSTOMER_PREFIX",
    "Unresolved",
    "UserResolver",
    "customer_link",
    "identity",
    "through_links",
    "unresolved",
]

CUSTOMER_PREFIX: Final = RESERVED_USER_PREFIX
"""Identities of billing customers, apart from user ids (which may not start with it)."""
_MAX_ID: Final = 200

Unresolved = UsageEvent | BillingEvent
"""An event that may arrive without its account."""


def identity(event: InputEvent) -> str:
    """The identity an event resolves or links through: its user or its customer."""
    if isinstance(event, AccountProfile):
        if event.billing_customer_id is None:
            msg = f"profile {event.event_id} names no billing customer"
            raise ValueError(msg)
        return _bounded(CUSTOMER_PREFIX + event.billing_customer_id)
    if isinstance(event, BillingEvent):
        if event.customer_id is None:
            msg = f"billing event {event.event_id} has neither account nor customer"
            raise ValueError(msg)
        return _bounded(CUSTOMER_PREFIX + event.customer_id)
    if isinstance(event, UserAlias):
        return event.alias_of  # where the user's link is
    if not isinstance(event, UsageEvent | UserLink):
        msg = f"{event.type} event {event.event_id} is not resolved through links"
        raise ValueError(msg)
    if event.user_id is None:
        msg = f"usage event {event.event_id} has neither account nor user"
        raise ValueError(msg)
    return event.user_id


def through_links(event: InputEvent) -> bool:
    """Whether an event goes by the links before its account: it has no account yet, or
    it teaches a customer's link (``customer_link``). A worker sends these to its users
    agent, keyed by ``identity``, so that links are learned and used in one place, in
    the order the events came, as the replay does."""
    if isinstance(event, UserLink | UserAlias):
        return True
    if isinstance(event, UsageEvent | BillingEvent) and event.account_id is None:
        return True
    return customer_link(event) is not None


def customer_link(event: InputEvent) -> UserLink | None:
    """The link an event teaches: its billing customer belongs to its account."""
    if isinstance(event, BillingEvent):
        customer = event.customer_id
    elif isinstance(event, AccountProfile):
        customer = event.billing_customer_id
    else:
        return None
    if customer is None or event.account_id is None:
        return None
    # Built, not validated: the customer's identity is in the namespace user ids may not use.
    return UserLink.model_construct(
        event_id=_bounded(f"{event.event_id}:customer"),
        occurred_at=event.occurred_at,
        user_id=_bounded(CUSTOMER_PREFIX + customer),
        account_id=event.account_id,
    )


DERIVED: Final = "alias/"
"""The event-id prefix of a link derived from an alias (never derived from again, so
that ids aliased to each other cannot pass links around for ever)."""

Stamp = tuple[int, str]
"""(event time µs, event id): the order in which links and aliases win."""


def derived_link(previous: str, alias: Stamp, link: tuple[int, str, str]) -> UserLink:
    """The link of an aliased id: to the account of its user's ``link``, as of the later
    of the alias and the link."""
    at_us, event_id, account = link
    return UserLink(
        event_id=_bounded(f"{DERIVED}{alias[1]}/{event_id}"),
        occurred_at=from_micros(max(alias[0], at_us)),
        user_id=previous,
        account_id=account,
    )


def _bounded(text: str) -> str:
    """``text``, or a digest of it where it would pass the 200 characters of an id."""
    if len(text) <= _MAX_ID:
        return text
    return text[:100] + "~" + hashlib.sha256(text.encode()).hexdigest()[:32]


class UserResolver:
    """Per-identity links (latest by event time, event id breaking ties) and parked events."""

    def __init__(self, park_for: timedelta) -> None:
        self.park_for = park_for
        self.park_us = park_for // timedelta(microseconds=1)
        self.links: dict[str, tuple[int, str, str]] = {}
        """identity -> (link time µs, link event id, account id)"""
        self.parked: dict[str, list[tuple[int, Unresolved]]] = {}
        """identity -> [(parked at µs, event)]"""
        self.aliases: dict[str, dict[str, Stamp]] = {}
        """user id -> {an id aliased to it, waiting for the user's link: its alias}"""

    def link(self, link: UserLink) -> tuple[list[Unresolved], list[Rejection]]:
        """Record a link; returns the identity's parked events it releases, attributed to
        the account, and those that waited too long for it; then the same for the ids
        aliased to it that waited for a link (``derived_link``)."""
        current = self.links.get(link.user_id)
        at = micros(link.occurred_at)
        won = link_wins(None if current is None else current[:2], at, link.event_id)
        if won:
            self.links[link.user_id] = (at, link.event_id, link.account_id)
        account = self.links[link.user_id][2]
        events: list[Unresolved] = []
        rejections: list[Rejection] = []
        for parked_at, event in self.parked.pop(link.user_id, []):
            if released(parked_at, at, self.park_us):
                events.append(event.model_copy(update={"account_id": account}))
            else:
                rejections.append(self._unresolved(link.user_id, event))
        if won and not link.event_id.startswith(DERIVED):
            for previous, alias in sorted(self.aliases.pop(link.user_id, {}).items()):
                more, refused = self.link(derived_link(previous, alias, self.links[link.user_id]))
                events += more
                rejections += refused
        return events, rejections

    def alias(self, alias: UserAlias) -> tuple[list[Unresolved], list[Rejection]]:
        """``alias.user_id`` is another id of ``alias.alias_of``: link it to that user's
        account (releasing what waited), or wait for the user's own next link."""
        stamp = (micros(alias.occurred_at), alias.event_id)
        link = self.links.get(alias.alias_of)
        if link is None or link[1].startswith(DERIVED):  # only a user's own link is followed
            waiting = self.aliases.setdefault(alias.alias_of, {})
            waiting[alias.user_id] = max(stamp, waiting.get(alias.user_id, stamp))
            return [], []
        return self.link(derived_link(alias.user_id, stamp, link))

    def resolve(self, event: Unresolved, now: datetime) -> Unresolved | None:
        """The event with its account, or None when it is parked to wait for a link."""
        if event.account_id is not None:
            return event
        key = identity(event)
        link = self.links.get(key)
        if link is not None:
            return event.model_copy(update={"account_id": link[2]})
        self.parked.setdefault(key, []).append((micros(now), event))
        return None

    def expire(self, now: datetime) -> list[Rejection]:
        """Reject events parked longer than ``park_for``: their identity got no account."""
        now_us = micros(now)
        rejections: list[Rejection] = []
        for key, waiting in list(self.parked.items()):
            keep = [(at, e) for at, e in waiting if not expired(at, now_us, self.park_us)]
            rejections += [
                self._unresolved(key, e) for at, e in waiting if expired(at, now_us, self.park_us)
            ]
            if keep:
                self.parked[key] = keep
            else:
                del self.parked[key]
        return rejections

    def _unresolved(self, key: str, event: Unresolved) -> Rejection:
        kind, message = unresolved(key, self.park_for)
        return Rejection(kind, event.event_id, message)


def unresolved(key: str, park_for: timedelta) -> tuple[RejectionKind, str]:
    """The rejection of an event whose identity got no account within ``park_for``."""
    if key.startswith(CUSTOMER_PREFIX):
        customer = key.removeprefix(CUSTOMER_PREFIX)
        return "unresolved_customer", (
            f"billing customer {customer!r} was not linked to an account within {park_for}: "
            "no event named both (metadata.account_id on the subscription), "
            "no account profile names it as billing_customer_id, and it is not in "
            "PULSE_STRIPE_CUSTOMER_ACCOUNTS"
        )
    return "unresolved_user", f"user {key!r} was not linked to an account within {park_for}"
