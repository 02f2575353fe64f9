"""Input events: what producers put on the usage, tickets, billing, feedback and accounts topics."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, PrivateAttr, ValidationInfo, field_validator

from topics.models.base import (
    Count,
    EventTime,
    Id,
    Label,
    NonNegative,
    Properties,
    PulseModel,
    Text,
)
from topics.models.commands import Command

__all__ = [
    "RESERVED_USER_PREFIX",
    "AccountProfile",
    "BillingEvent",
    "InputEvent",
    "SurveyResponse",
    "TicketEvent",
    "UsageEvent",
    "UserAlias",
    "UserLink",
]

_CURRENCY = re.compile(r"[A-Z]{3}")


def _currency(value: str) -> str:
    code = value.strip().upper()
    if not _CURRENCY.fullmatch(code):
        raise ValueError("must be a 3-letter ISO 4217 code such as 'USD'")
    return code


Currency = Annotated[str, AfterValidator(_currency)]

RESERVED_USER_PREFIX = "billing-customer:"
"""Pulse resolves billing customers as ids under this prefix (signals.resolve): no
producer's user id may start with it, or a group call could claim a customer's billing."""


def _not_reserved(user_id: str) -> str:
    if user_id.startswith(RESERVED_USER_PREFIX):
        msg = f"user ids starting with {RESERVED_USER_PREFIX!r} are reserved"
        raise ValueError(msg)
    return user_id


UserId = Annotated[Id, AfterValidator(_not_reserved)]


class UsageEvent(PulseModel):
    """One product-usage event (a Segment `track`), attributed to an account, a user or both."""

    type: Literal["track"] = "track"
    event_id: Id
    occurred_at: EventTime
    account_id: Id | None = None
    # Validated even when omitted so that "neither owner" is reported on a named field.
    user_id: UserId | None = Field(default=None, validate_default=True)
    name: Label
    properties: Properties = Field(default_factory=dict)

    @field_validator("user_id")
    @classmethod
    def _needs_an_owner(cls, user_id: str | None, info: ValidationInfo) -> str | None:
        if user_id is None and info.data.get("account_id") is None and "account_id" in info.data:
            raise ValueError("account_id or user_id is required")
        return user_id


class UserLink(PulseModel):
    """A user belongs to an account (a Segment `group` call); resolves user-only usage."""

    type: Literal["group"] = "group"
    event_id: Id
    occurred_at: EventTime
    user_id: UserId
    account_id: Id
    _traits: tuple[AccountProfile | None, tuple[str, ...]] = PrivateAttr(default=(None, ()))

    @property
    def account_traits(self) -> AccountProfile | None:
        """The account's traits the call carried (a Segment group call's ``traits``, an
        identify's ``traits.company``), as a partial profile of the linked account; not a
        field of the message, so a link in Pulse's own shape never has one."""
        return self._traits[0]

    @property
    def dropped_traits(self) -> tuple[str, ...]:
        """Traits Pulse reads whose value it could not use (``segment: "startup"``):
        each is left out of ``account_traits`` and counted as ignored, the link kept."""
        return self._traits[1]

    def with_traits(self, profile: AccountProfile | None, dropped: tuple[str, ...]) -> UserLink:
        """This link carrying an account's traits (the Segment adapter's only)."""
        self._traits = (profile, dropped)
        return self


class UserAlias(PulseModel):
    """Two ids of one person (a Segment / RudderStack ``alias`` call): ``user_id``, the
    previous id (often an anonymous one), belongs to the account ``alias_of`` belongs to,
    for as long as that is its latest link."""

    type: Literal["alias"] = "alias"
    event_id: Id
    occurred_at: EventTime
    user_id: UserId
    alias_of: UserId

    @field_validator("alias_of")
    @classmethod
    def _not_itself(cls, alias_of: str, info: ValidationInfo) -> str:
        if alias_of == info.data.get("user_id"):
            raise ValueError("an id cannot be an alias of itself")
        return alias_of


class TicketEvent(PulseModel):
    """A step in a support ticket's life, with the CSAT rating when it is rated."""

    type: Literal["ticket"] = "ticket"
    event_id: Id
    occurred_at: EventTime
    account_id: Id
    ticket_id: Id
    action: Literal["opened", "updated", "solved", "reopened", "rated"]
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    csat: Annotated[int, Field(ge=1, le=5)] | None = Field(default=None, validate_default=True)
    requester_id: Id | None = None

    @field_validator("csat")
    @classmethod
    def _rated_needs_csat(cls, csat: int | None, info: ValidationInfo) -> int | None:
        if csat is None and info.data.get("action") == "rated":
            raise ValueError("is required when action is 'rated'")
        return csat


class BillingEvent(PulseModel):
    """A subscription or payment change; amounts are in `currency` units, not cents."""

    type: Literal["billing"] = "billing"
    event_id: Id
    occurred_at: EventTime
    account_id: Id | None = None
    """The account; without one, ``customer_id`` must name the billing customer, and the
    event waits (a bounded time) for a link from that customer to an account."""
    customer_id: Id | None = Field(default=None, validate_default=True)
    """The billing system's customer (Stripe ``cus_...``). An event that names both an
    account and a customer links the two, for later events naming the customer alone."""
    action: Literal[
        "subscription_started",
        "subscription_updated",
        "invoice_paid",
        "payment_failed",
        "payment_recovered",
        "subscription_cancelled",
        "refund",
    ]
    plan: Label | None = None
    seats_purchased: Count | None = None
    seats_before: Count | None = None
    """Seats purchased before this update, when the event says (Stripe's
    ``previous_attributes``): a rise is an expansion even with no earlier event."""
    mrr: NonNegative | None = None
    currency: Currency | None = None
    renewal_date: date | None = None
    api_calls_per_day_limit: Count | None = None
    data_volume_limit_gb: NonNegative | None = None
    amount: float | None = None
    invoice_id: Id | None = None
    interval: Literal["day", "week", "month", "year"] | None = None
    """How often the subscription bills: a ``year`` (or longer) term is a contract renewal."""
    interval_count: Count | None = None
    """Intervals per billing period (Stripe's ``interval_count``): 3 months is a quarter."""
    cancel_at: EventTime | None = None
    """When a scheduled cancellation takes effect (Stripe ``cancel_at`` or the period end
    under ``cancel_at_period_end``); set on ``subscription_updated``."""
    cancel_scheduled: bool | None = None
    """True while a cancellation is scheduled, False once it is withdrawn; None: unchanged."""
    trial_start: EventTime | None = None
    """When the subscription's trial began (Stripe's ``trial_start``)."""
    trial_end: EventTime | None = None
    """When its trial ends or ended (Stripe's ``trial_end``): a subscription that ends by
    then was a trial that lapsed, not paid churn; nothing else need say "trial"."""
    subscription_id: Id | None = None
    """Which of the account's subscriptions this is about: with it, an account's MRR, seats
    and status aggregate over its subscriptions; without, the event speaks for the account."""
    subscription_status: (
        Literal[
            "active",
            "trialing",
            "past_due",
            "unpaid",
            "canceled",
            "incomplete",
            "incomplete_expired",
            "paused",
        ]
        | None
    ) = None
    """Stripe's subscription status; ``past_due`` and ``unpaid`` are payment trouble."""

    @field_validator("customer_id")
    @classmethod
    def _needs_an_owner(cls, customer_id: str | None, info: ValidationInfo) -> str | None:
        if (
            customer_id is None
            and info.data.get("account_id") is None
            and "account_id" in info.data
        ):
            raise ValueError("account_id or customer_id is required")
        return customer_id


class SurveyResponse(PulseModel):
    """One NPS answer; the latest per respondent counts."""

    type: Literal["nps"] = "nps"
    event_id: Id
    occurred_at: EventTime
    account_id: Id
    respondent_id: Id
    score: Annotated[int, Field(ge=0, le=10)]
    comment: Text | None = None
    role: Literal["champion", "executive_sponsor", "admin", "end_user"] | None = None


class AccountProfile(PulseModel):
    """The latest CRM view of an account (compacted topic: newest per account wins)."""

    type: Literal["account"] = "account"
    event_id: Id
    occurred_at: EventTime
    account_id: Id
    name: Label | None = None
    segment: Literal["enterprise", "mid_market", "smb"] | None = None
    csm_owner: Id | None = None
    acv: NonNegative | None = None
    lifecycle_stage: Literal["trial", "onboarding", "adopted", "renewal"] | None = None
    executive_sponsor: bool | None = None
    plan: Label | None = None
    seats: Count | None = None
    """Seats the contract holds, as the CRM knows them: read where billing names none."""
    billing_customer_id: Id | None = None
    """The account's customer in the billing system (Stripe ``cus_...``): billing events
    naming only that customer belong to this account."""


InputEvent = (
    UsageEvent
    | UserLink
    | UserAlias
    | TicketEvent
    | BillingEvent
    | SurveyResponse
    | AccountProfile
    | Command
)
