"""Which Pulse account a Stripe object belongs to.

Tried in order, the first found wins:
1. `metadata[account_field]` on the object itself;
2. the subscription's metadata Stripe copies onto invoices
   (`subscription_details`, or `parent.subscription_details` since 2025);
3. the metadata of the invoice's line items (API versions before mid-2023
   carry the subscription's metadata only there);
4. the customer's metadata, when the customer is expanded in the payload;
5. the caller's mapping (a setting), asked for the customer id, else the
   charge, payment intent, subscription or invoice the object names (a
   dispute names only its charge);
6. none: when the object names a customer, the event goes on without an account,
   to be resolved by a link the customer got from another event (one naming both,
   or the account's profile: ``signals.resolve``); otherwise it is refused.

Properties of other shapes (descriptions, e-mail addresses) are never searched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from topics.adapters._paths import dig
from topics.errors import PulseValidationError

__all__ = ["AccountResolver", "resolve_account", "stripe_id"]

AccountResolver = Callable[[str], str | None] | Mapping[str, str]
"""Stripe id (a customer, or a charge, payment intent, subscription or invoice) -> Pulse
account id, for objects without account metadata."""

_REFERENCES = ("customer", "charge", "payment_intent", "subscription", "invoice")
"""Stripe ids the mapping is asked about, in order: a customer, else (for a dispute or a
guest charge) the charge or payment it belongs to."""
_COPIES = ((), ("subscription_details",), ("parent", "subscription_details"))


def stripe_id(value: Any) -> Any:
    """Stripe references are an id string, or the whole object when expanded."""
    return value.get("id") if isinstance(value, dict) else value


def resolve_account(
    obj: dict[str, Any], customer_accounts: AccountResolver | None, account_field: str
) -> tuple[Any, str]:
    """The account id and the Stripe field it came from; None (with the customer field)
    when only a customer is named; a clear error when there is nothing to go by."""
    for where in _COPIES:
        account_id = dig(obj, *where, "metadata", account_field)
        if account_id is not None:
            return account_id, ".".join(("data", "object", *where, "metadata", account_field))
    lines = dig(obj, "lines", "data")
    for index, line in enumerate(lines if isinstance(lines, list) else []):
        account_id = dig(line, "metadata", account_field)
        if account_id is not None:
            return account_id, f"data.object.lines.data.{index}.metadata.{account_field}"
    account_id = dig(obj, "customer", "metadata", account_field)
    if account_id is not None:
        return account_id, f"data.object.customer.metadata.{account_field}"
    references = [
        (field, ref)
        for field in _REFERENCES
        if isinstance(ref := stripe_id(obj.get(field)), str) and ref
    ]
    field = f"data.object.metadata.{account_field}"
    if not references:
        raise PulseValidationError(
            field, "missing, and the object names no customer, charge or payment to map"
        )
    if customer_accounts is not None:
        for source, ref in references:
            account_id = (
                customer_accounts(ref)
                if callable(customer_accounts)
                else customer_accounts.get(ref)
            )
            if account_id is not None:
                return account_id, f"data.object.{source}"
    if references[0][0] == "customer":
        return None, "data.object.customer"
    named = ", ".join(repr(ref) for _, ref in references)
    raise PulseValidationError(
        field,
        f"missing, and none of {named} is in the customer -> account mapping "
        "(setting PULSE_STRIPE_CUSTOMER_ACCOUNTS)",
    )
