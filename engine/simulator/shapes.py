"""Message shapes producers really send: our own events, Segment track/group calls, Stripe events.

Each function returns the message as a JSON-ready dict and the Kafka key it
goes under (the account, or the user for a user-only Segment call that the
engine must resolve through an earlier `group` call). Stripe events carry the
account in metadata, which ``topics.adapters.stripe`` reads without a
customer mapping.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from engine.simulator.product import CURRENCY, Plan

Message = dict[str, Any]

_STRIPE_EVENT_TYPES = {
    "subscription_started": "customer.subscription.created",
    "subscription_updated": "customer.subscription.updated",
    "subscription_cancelled": "customer.subscription.deleted",
    "invoice_paid": "invoice.paid",
    "payment_recovered": "invoice.paid",
    "payment_failed": "invoice.payment_failed",
}
_ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def iso(instant: datetime) -> str:
    """ISO 8601 in UTC with a Z, to the millisecond, as JavaScript SDKs write it."""
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ShapedAccount(Protocol):
    """What the shapes need of an account, whichever preset built it."""

    @property
    def account_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def plan(self) -> Plan: ...
    @property
    def segment_shape(self) -> bool: ...
    @property
    def stripe_shape(self) -> bool: ...
    @property
    def customer_id(self) -> str: ...
    def rng(self, purpose: str) -> random.Random: ...


class Shapes:
    """Renders one account's events in the shapes that account's producers use."""

    def __init__(self, account: ShapedAccount) -> None:
        self.account = account
        self._ids = account.rng("ids")

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def _stripe_id(self, prefix: str) -> str:
        return prefix + "".join(self._ids.choices(_ALPHANUMERIC, k=24))

    def _own(self, kind: str, at: datetime, **fields: Any) -> Message:
        return {"type": kind, "event_id": self._uuid(), "occurred_at": iso(at)} | fields

    # -- usage ------------------------------------------------------------------------------

    def usage(
        self,
        at: datetime,
        name: str,
        user_id: str | None,
        properties: dict[str, Any],
        *,
        user_only: bool = False,
    ) -> tuple[str, Message]:
        """A product event; a Segment account's `user_only` call names no account."""
        account_id = self.account.account_id
        if not self.account.segment_shape:
            return account_id, self._own(
                "track",
                at,
                account_id=account_id,
                user_id=user_id,
                name=name,
                properties=properties,
            )
        message: Message = {
            "type": "track",
            "event": name,
            "messageId": f"ajs-next-{self._ids.getrandbits(128):032x}",
            "timestamp": iso(at),
            "properties": properties,
            "context": {"library": {"name": "analytics-node", "version": "2.1.2"}},
        }
        if user_id is not None:
            message["userId"] = user_id
        if user_only and user_id is not None:
            return user_id, message
        message["context"]["groupId"] = account_id
        return account_id, message

    def group(self, at: datetime, user_id: str, plan: Plan | None = None) -> tuple[str, Message]:
        """A Segment `group` call linking a user to the account."""
        plan = plan or self.account.plan
        return self.account.account_id, {
            "type": "group",
            "messageId": f"ajs-next-{self._ids.getrandbits(128):032x}",
            "timestamp": iso(at),
            "userId": user_id,
            "groupId": self.account.account_id,
            "traits": {"name": self.account.name, "plan": plan.name},
        }

    # -- tickets, feedback, accounts --------------------------------------------------------

    def ticket(
        self, at: datetime, ticket_id: str, action: str, priority: str, **extra: Any
    ) -> Message:
        return self._own(
            "ticket",
            at,
            account_id=self.account.account_id,
            ticket_id=ticket_id,
            action=action,
            priority=priority,
            **extra,
        )

    def survey(self, at: datetime, respondent_id: str, score: int, role: str) -> Message:
        return self._own(
            "nps",
            at,
            account_id=self.account.account_id,
            respondent_id=respondent_id,
            score=score,
            role=role,
        )

    def profile(self, at: datetime, **fields: Any) -> Message:
        return self._own("account", at, account_id=self.account.account_id, **fields)

    # -- billing ----------------------------------------------------------------------------

    def subscription(
        self,
        at: datetime,
        action: str,
        renewal: date | None,
        seats: int,
        *,
        plan: Plan | None = None,
        term: Term | None = None,
    ) -> Message:
        """subscription_started/updated/cancelled with the plan, seats, MRR and limits.

        Without a `term` the subscription is the easy preset's (monthly, never
        scheduled to cancel) and says nothing of its interval; with one it says how
        often it bills and whether a cancellation is scheduled, as Stripe does.
        """
        plan = plan or self.account.plan
        if not self.account.stripe_shape:
            return self._own_subscription(at, action, renewal, seats=seats, plan=plan, term=term)
        yearly = term is not None and term.interval == "year"
        price = {
            "id": f"price_{plan.name.lower()}_{'yearly' if yearly else 'monthly'}",
            "object": "price",
            "nickname": plan.name,
            "currency": CURRENCY.lower(),
            "unit_amount": plan.seat_price * 100 * (12 if yearly else 1),
            "recurring": {"interval": "year" if yearly else "month", "interval_count": 1},
            "metadata": {
                "api_calls_per_day_limit": str(plan.api_calls_per_day_limit),
                "data_volume_limit_gb": f"{plan.data_volume_limit_gb:g}",
            },
        }
        subscription: Message = {
            "id": "sub_" + self.account.customer_id.removeprefix("cus_"),
            "object": "subscription",
            "customer": self.account.customer_id,
            "currency": CURRENCY.lower(),
            "status": "canceled" if action == "subscription_cancelled" else "active",
            "metadata": {"account_id": self.account.account_id},
            "items": {
                "object": "list",
                "data": [
                    {"id": "si_1", "object": "subscription_item", "quantity": seats, "price": price}
                ],
            },
        }
        if renewal is not None:
            subscription["current_period_end"] = _unix(renewal)
        if term is not None:
            subscription.update(term.stripe_fields())
        return self._stripe(at, action, subscription)

    def _own_subscription(
        self,
        at: datetime,
        action: str,
        renewal: date | None,
        *,
        seats: int,
        plan: Plan,
        term: Term | None,
    ) -> Message:
        message = self._own(
            "billing",
            at,
            account_id=self.account.account_id,
            action=action,
            plan=plan.name,
            seats_purchased=seats,
            mrr=float(plan.seat_price * seats),
            currency=CURRENCY,
            renewal_date=None if renewal is None else renewal.isoformat(),
            api_calls_per_day_limit=plan.api_calls_per_day_limit,
            data_volume_limit_gb=plan.data_volume_limit_gb,
        )
        if term is not None:
            message |= term.own_fields()
        return message

    def invoice(
        self,
        at: datetime,
        action: str,
        invoice_id: str,
        amount: float,
        *,
        reason: str | None = None,
        attempt: int = 1,
    ) -> Message:
        """invoice_paid, payment_failed or payment_recovered for one invoice.

        `reason` is Stripe's `billing_reason` (a renewal, a mid-term change), given
        only by presets that tell them apart; `attempt` counts payment attempts.
        """
        account = self.account
        if not account.stripe_shape:
            return self._own(
                "billing",
                at,
                account_id=account.account_id,
                action=action,
                amount=amount,
                currency=CURRENCY,
                invoice_id=invoice_id,
            )
        cents = round(amount * 100)
        paid = action != "payment_failed"
        invoice = {
            "id": invoice_id,
            "object": "invoice",
            "customer": account.customer_id,
            "currency": CURRENCY.lower(),
            "amount_due": cents,
            "amount_paid": cents if paid else 0,
            "attempt_count": attempt,
            "metadata": {},
            "parent": {"subscription_details": {"metadata": {"account_id": account.account_id}}},
        }
        if reason is not None:
            invoice["billing_reason"] = reason
        return self._stripe(at, action, invoice)

    def _stripe(self, at: datetime, action: str, obj: Message) -> Message:
        return {
            "id": self._stripe_id("evt_"),
            "object": "event",
            "api_version": "2025-03-31.basil",
            "created": int(at.timestamp()),
            # The simulator stands for a production feed: test-mode events would be
            # ignored by a worker with default settings (PULSE_STRIPE_ACCEPT_TEST_MODE).
            "livemode": True,
            "type": _STRIPE_EVENT_TYPES[action],
            "data": {"object": obj},
        }


@dataclass(frozen=True)
class Term:
    """How a subscription bills and whether it is set to end: the realistic preset's extras."""

    interval: str
    """``month`` or ``year``."""
    cancel_at: datetime | None = None
    """When a scheduled cancellation takes effect (the period end)."""
    cancel_scheduled: bool | None = None
    """True: scheduled; False: a scheduled cancellation withdrawn; None: nothing to say."""
    at_period_end: bool = True
    """Stripe shape: schedule through ``cancel_at_period_end`` (else through ``cancel_at`` alone,
    as newer API versions do when a customer cancels in the portal)."""
    status: str | None = None
    """Stripe status when not the default (``trialing``, ``past_due``)."""
    trial_end: datetime | None = None

    def own_fields(self) -> Message:
        fields: Message = {"interval": self.interval, "interval_count": 1}
        if self.cancel_scheduled is not None:
            fields["cancel_scheduled"] = self.cancel_scheduled
        if self.cancel_at is not None:
            fields["cancel_at"] = iso(self.cancel_at)
        return fields

    def stripe_fields(self) -> Message:
        scheduled = bool(self.cancel_scheduled) and self.cancel_at is not None
        fields: Message = {
            "cancel_at_period_end": scheduled and self.at_period_end,
            "cancel_at": int(self.cancel_at.timestamp()) if scheduled and self.cancel_at else None,
        }
        if self.status is not None:
            fields["status"] = self.status
        if self.trial_end is not None:
            fields["trial_end"] = int(self.trial_end.timestamp())
        return fields


def _unix(day: date) -> int:
    return (day.toordinal() - date(1970, 1, 1).toordinal()) * 86_400
