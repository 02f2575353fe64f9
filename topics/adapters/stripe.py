"""Stripe webhook events as Pulse billing events.

Handled types (every other type is `PulseIgnored`: counted, never dead-lettered):

| Stripe type | action |
| --- | --- |
| customer.subscription.created | subscription_started |
| customer.subscription.updated, .paused, .resumed, | subscription_updated |
| .trial_will_end, .pending_update_applied | |
| customer.subscription.deleted, or any of the | subscription_cancelled |
| above with status canceled / incomplete_expired | |
| invoice.paid, invoice.payment_succeeded | invoice_paid |
| invoice.payment_failed, invoice.payment_action_required, charge.failed | payment_failed |
| charge.refunded | refund |
| charge.dispute.created | payment_failed (the dispute is the unpaid item) |
| charge.dispute.closed | payment_recovered (the dispute episode is over) |
| checkout.session.completed | subscription_started (mode subscription) or invoice_paid |

Test-mode events (`livemode: false`) are ignored unless `accept_test_mode`.
Amounts use the currency's exponent (JPY has none, KWD has three), not a
blanket /100. See `stripe_subscription`, `stripe_money` and `stripe_account`
for the subscription fields, MRR and account resolution.
"""

from __future__ import annotations

import re
from typing import Any

from topics.adapters._paths import dig, validate
from topics.adapters.stripe_account import AccountResolver, resolve_account, stripe_id
from topics.adapters.stripe_money import minor_units
from topics.adapters.stripe_subscription import instant, seats_before, subscription_fields
from topics.errors import PulseIgnored, PulseValidationError
from topics.models import BillingEvent

__all__ = ["HANDLED_TYPES", "AccountResolver", "from_stripe", "is_stripe"]

_SUBSCRIPTION_ACTIONS = {
    "customer.subscription.created": "subscription_started",
    "customer.subscription.updated": "subscription_updated",
    "customer.subscription.paused": "subscription_updated",
    "customer.subscription.resumed": "subscription_updated",
    "customer.subscription.trial_will_end": "subscription_updated",
    "customer.subscription.pending_update_applied": "subscription_updated",
    "customer.subscription.deleted": "subscription_cancelled",
}
_PAYMENT_ACTIONS = {
    # type: (action, amount field, invoice reference field)
    "invoice.paid": ("invoice_paid", "amount_paid", "id"),
    "invoice.payment_succeeded": ("invoice_paid", "amount_paid", "id"),
    "invoice.payment_failed": ("payment_failed", "amount_due", "id"),
    "invoice.payment_action_required": ("payment_failed", "amount_due", "id"),
    "charge.failed": ("payment_failed", "amount", "invoice"),
    "charge.refunded": ("refund", "amount_refunded", "invoice"),
    "charge.dispute.created": ("payment_failed", "amount", "id"),
    "charge.dispute.closed": ("payment_recovered", "amount", "id"),
}
_STRIPE_TYPE = re.compile(r"[a-z][a-z_]{0,40}(\.[a-z][a-z_]{0,40}){1,3}")
"""What a Stripe event type looks like; anything else is garbage, not an ignorable type
(and would make an unbounded metric label)."""
HANDLED_TYPES = frozenset([*_SUBSCRIPTION_ACTIONS, *_PAYMENT_ACTIONS, "checkout.session.completed"])


def is_stripe(message: dict[str, Any]) -> bool:
    """Stripe event objects say so in `object`; Pulse's own shape has no such field."""
    return message.get("object") == "event"


def from_stripe(
    event: dict[str, Any],
    *,
    customer_accounts: AccountResolver | None = None,
    account_field: str = "account_id",
    accept_test_mode: bool = True,
) -> BillingEvent:
    """Translate one Stripe event; errors name the Stripe field at fault (e.g. `data.object.id`).

    Raises PulseIgnored for types Pulse has no use for and, unless `accept_test_mode`,
    for test-mode events.
    """
    kind = event.get("type")
    if not isinstance(kind, str):
        raise PulseValidationError("type", "must name a Stripe event type such as 'invoice.paid'")
    if kind not in HANDLED_TYPES and not _STRIPE_TYPE.fullmatch(kind):
        raise PulseValidationError("type", f"{kind!r} is not a Stripe event type")
    if kind not in HANDLED_TYPES:
        msg = f"stripe:{kind}"
        raise PulseIgnored(msg, "no Pulse signal comes from this Stripe event type")
    if event.get("livemode") is False and not accept_test_mode:
        msg = f"stripe:{kind}"
        raise PulseIgnored(msg, "a test-mode event (livemode: false) is not counted")
    obj = dig(event, "data", "object")
    if not isinstance(obj, dict):
        raise PulseValidationError("data.object", "must be an object")
    fields: dict[str, Any] = {
        "event_id": event.get("id"),
        "occurred_at": instant(event.get("created"), "created"),
    }
    sources = {"event_id": "id", "occurred_at": "created"}
    if kind in _SUBSCRIPTION_ACTIONS:
        fields["action"] = _SUBSCRIPTION_ACTIONS[kind]
        subscription_fields(obj, kind, fields, sources)
        before = seats_before(dig(event, "data", "previous_attributes"))
        if before is not None and fields["action"] == "subscription_updated":
            fields["seats_before"] = before
            sources["seats_before"] = "data.previous_attributes"
    elif kind in _PAYMENT_ACTIONS:
        action, amount_field, reference = _PAYMENT_ACTIONS[kind]
        _payment(
            obj,
            action=action,
            amount_field=amount_field,
            reference=reference,
            fields=fields,
            sources=sources,
        )
    else:
        _checkout(obj, fields, sources)
    fields["account_id"], sources["account_id"] = resolve_account(
        obj, customer_accounts, account_field
    )
    customer = stripe_id(obj.get("customer"))
    # A customer id Pulse cannot keep (Stripe allows 255 characters, Pulse's ids 200) is
    # left out where the account is known: only an event without one needs it.
    if (
        isinstance(customer, str)
        and customer
        and (len(customer) <= 200 or not fields["account_id"])
    ):
        fields["customer_id"] = customer
        sources["customer_id"] = "data.object.customer"
    return validate(BillingEvent, fields, sources)


def _payment(
    obj: dict[str, Any],
    *,
    action: str,
    amount_field: str,
    reference: str,
    fields: dict[str, Any],
    sources: dict[str, str],
) -> None:
    """An invoice, charge or dispute: the unpaid item is the invoice, else the object itself."""
    invoice = stripe_id(obj.get(reference)) or obj.get("id")
    fields.update(action=action, invoice_id=invoice)
    sources["invoice_id"] = f"data.object.{reference}"
    subscription = stripe_id(obj.get("subscription")) or stripe_id(
        dig(obj, "parent", "subscription_details", "subscription")
    )
    if isinstance(subscription, str):
        fields["subscription_id"] = subscription
        sources["subscription_id"] = "data.object.subscription"
    _money(obj, amount_field, fields, sources)


def _checkout(obj: dict[str, Any], fields: dict[str, Any], sources: dict[str, str]) -> None:
    """A completed Checkout: a new subscription, or a paid one-off purchase."""
    if obj.get("mode") == "subscription":
        # No subscription_id: the session has no items, and the subscription's own
        # events carry its MRR and seats; this one only says the account is live.
        fields["action"] = "subscription_started"
    else:
        fields.update(
            action="invoice_paid", invoice_id=stripe_id(obj.get("invoice")) or obj.get("id")
        )
        sources["invoice_id"] = "data.object.invoice"
        if obj.get("amount_total") is not None:
            _money(obj, "amount_total", fields, sources)
            return
    if obj.get("currency") is not None:
        fields["currency"] = obj.get("currency")
        sources["currency"] = "data.object.currency"


def _money(
    obj: dict[str, Any], amount_field: str, fields: dict[str, Any], sources: dict[str, str]
) -> None:
    currency = obj.get("currency")
    field = f"data.object.{amount_field}"
    fields.update(amount=minor_units(obj.get(amount_field), currency, field), currency=currency)
    sources.update(amount=field, currency="data.object.currency")
