"""Stripe webhook events as Pulse billing events.

Handled types: invoice.paid, invoice.payment_failed, charge.refunded and
customer.subscription.created / updated / deleted. Decisions:

- Amounts are converted from Stripe's minor units using the currency's
  exponent (JPY has none, KWD has three), not a blanket /100.
- MRR sums every subscription item (a base plan plus add-ons), each
  normalised to a month by its billing interval. An item without a flat
  `unit_amount` (tiered or metered pricing) makes MRR unknown (None) rather
  than wrong.
- Plan limits come from metadata keys `api_calls_per_day_limit` and
  `data_volume_limit_gb`; subscription metadata (a negotiated deal) wins over
  the price's metadata (the list plan).
- A cancelled subscription has no renewal date.
- The billing interval is the longest among the items (a yearly plan with a
  monthly add-on is a yearly contract), from `price.recurring` (or a legacy
  `plan`).
- A scheduled cancellation is `cancel_at` when Stripe gives one, else the
  period end under `cancel_at_period_end: true` (the two agree when both are
  set). An update with neither says the cancellation is withdrawn
  (`cancel_scheduled=False`); a created or deleted subscription says nothing
  about it unless `cancel_at` is set at creation.
- The account is `metadata[account_field]` on the object (for invoices and
  charges also the subscription's metadata Stripe copies onto them), else the
  caller's customer -> account mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeGuard

from topics.adapters._paths import dig, validate
from topics.errors import PulseValidationError
from topics.models import BillingEvent
from topics.models.base import INT64_MAX

__all__ = ["AccountResolver", "from_stripe", "is_stripe"]

AccountResolver = Callable[[str], str | None] | Mapping[str, str]
"""Stripe customer id -> Pulse account id, for customers without account metadata."""

_SUBSCRIPTION_ACTIONS = {
    "customer.subscription.created": "subscription_started",
    "customer.subscription.updated": "subscription_updated",
    "customer.subscription.deleted": "subscription_cancelled",
}
_INVOICE_ACTIONS = {
    "invoice.paid": ("invoice_paid", "amount_paid"),
    "invoice.payment_failed": ("payment_failed", "amount_due"),
}
_LIMIT_KEYS = ("api_calls_per_day_limit", "data_volume_limit_gb")

# Stripe's currencies whose minor unit is not a hundredth.
_ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
_THREE_DECIMAL = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])
_MONTHS_PER_INTERVAL = {"day": 12 / 365, "week": 12 / 52, "month": 1.0, "year": 12.0}


def is_stripe(message: dict[str, Any]) -> bool:
    """Stripe event objects say so in `object`; Pulse's own shape has no such field."""
    return message.get("object") == "event"


def from_stripe(
    event: dict[str, Any],
    *,
    customer_accounts: AccountResolver | None = None,
    account_field: str = "account_id",
) -> BillingEvent:
    """Translate one Stripe event; errors name the Stripe field at fault (e.g. `data.object.id`)."""
    kind = event.get("type")
    if not isinstance(kind, str):
        raise PulseValidationError("type", "must name a Stripe event type such as 'invoice.paid'")
    obj = dig(event, "data", "object")
    if not isinstance(obj, dict):
        raise PulseValidationError("data.object", "must be an object")
    fields: dict[str, Any] = {
        "event_id": event.get("id"),
        "occurred_at": _instant(event.get("created"), "created"),
    }
    sources = {"event_id": "id", "occurred_at": "created"}
    if kind in _SUBSCRIPTION_ACTIONS:
        fields["action"] = _SUBSCRIPTION_ACTIONS[kind]
        period_end = _subscription(obj, fields, sources)
        if kind == "customer.subscription.deleted":
            fields["renewal_date"] = None
        else:
            _cancellation(obj, period_end, kind == "customer.subscription.updated", fields, sources)
    elif kind in _INVOICE_ACTIONS:
        action, amount_field = _INVOICE_ACTIONS[kind]
        fields.update(action=action, invoice_id=obj.get("id"))
        sources["invoice_id"] = "data.object.id"
        _money(obj, amount_field, fields, sources)
    elif kind == "charge.refunded":
        fields.update(action="refund", invoice_id=_id(obj.get("invoice")))
        sources["invoice_id"] = "data.object.invoice"
        _money(obj, "amount_refunded", fields, sources)
    else:
        raise PulseValidationError("type", f"unsupported Stripe event type {kind!r}")
    fields["account_id"], sources["account_id"] = _account(obj, customer_accounts, account_field)
    return validate(BillingEvent, fields, sources)


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _instant(timestamp: Any, field: str) -> datetime:
    """A Stripe Unix timestamp (seconds) as an aware UTC datetime."""
    if not _is_int(timestamp):
        raise PulseValidationError(field, "must be a Unix timestamp in seconds")
    try:
        return datetime.fromtimestamp(timestamp, UTC)
    except (OverflowError, OSError, ValueError):
        raise PulseValidationError(field, f"{timestamp} is out of range") from None


def _id(value: Any) -> Any:
    """Stripe references are an id string, or the whole object when expanded."""
    return value.get("id") if isinstance(value, dict) else value


def _minor_units(value: Any, currency: Any, field: str) -> float:
    if not _is_int(value) or abs(value) > INT64_MAX:
        raise PulseValidationError(field, "must be a 64-bit integer amount in minor units")
    code = currency.upper() if isinstance(currency, str) else ""
    if code in _ZERO_DECIMAL:
        return float(value)
    return value / (1000 if code in _THREE_DECIMAL else 100)


def _money(
    obj: dict[str, Any], amount_field: str, fields: dict[str, Any], sources: dict[str, str]
) -> None:
    currency = obj.get("currency")
    field = f"data.object.{amount_field}"
    fields.update(amount=_minor_units(obj.get(amount_field), currency, field), currency=currency)
    sources.update(amount=field, currency="data.object.currency")


def _subscription(obj: dict[str, Any], fields: dict[str, Any], sources: dict[str, str]) -> Any:
    """Plan, seats, MRR, renewal, interval and limits; returns the period end (a timestamp)."""
    items = dig(obj, "items", "data")
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise PulseValidationError("data.object.items.data", "must be a non-empty list of items")
    first = items[0]
    price = first.get("price") if isinstance(first.get("price"), dict) else {}
    plan = price.get("nickname") or price.get("id") or dig(first, "plan", "id")
    currency = obj.get("currency") or price.get("currency")
    period_end = obj.get("current_period_end") or first.get("current_period_end")
    fields.update(
        plan=plan,
        seats_purchased=first.get("quantity"),
        currency=currency,
        mrr=_mrr(items, currency),
        renewal_date=_date(period_end, "data.object.current_period_end"),
    )
    fields["interval"], fields["interval_count"] = _billing_period(items)
    sources.update(
        plan="data.object.items.data.0.price",
        seats_purchased="data.object.items.data.0.quantity",
        currency="data.object.currency",
        mrr="data.object.items.data",
    )
    for key in _LIMIT_KEYS:
        for where, metadata in (("data.object", obj), ("data.object.items.data.0.price", price)):
            value = dig(metadata, "metadata", key)
            if value is not None:
                fields[key] = value
                sources[key] = f"{where}.metadata.{key}"
                break
    return period_end


def _billing_period(items: list[dict[str, Any]]) -> tuple[str, int]:
    """The longest billing period among the items, as (interval, interval_count)."""
    periods: list[tuple[float, str, int]] = []
    for index, item in enumerate(items):
        where = f"data.object.items.data.{index}.price.recurring"
        price = item.get("price") or item.get("plan")
        interval = dig(price, "recurring", "interval") or dig(price, "interval")
        count = dig(price, "recurring", "interval_count") or dig(price, "interval_count") or 1
        if not isinstance(interval, str) or interval not in _MONTHS_PER_INTERVAL:
            raise PulseValidationError(
                where + ".interval", f"unknown billing interval {interval!r}"
            )
        if not _is_int(count) or count < 1:
            raise PulseValidationError(where + ".interval_count", "must be >= 1")
        periods.append((_MONTHS_PER_INTERVAL[interval] * count, interval, count))
    _, interval, count = max(periods, key=lambda period: period[0])
    return interval, count


def _cancellation(
    obj: dict[str, Any],
    period_end: Any,
    is_update: bool,
    fields: dict[str, Any],
    sources: dict[str, str],
) -> None:
    """`cancel_at` / `cancel_at_period_end` as a scheduled (or withdrawn) cancellation."""
    at_period_end = obj.get("cancel_at_period_end")
    if at_period_end is not None and not isinstance(at_period_end, bool):
        raise PulseValidationError("data.object.cancel_at_period_end", "must be true or false")
    cancel_at = obj.get("cancel_at")
    if cancel_at is not None:
        fields.update(cancel_scheduled=True, cancel_at=_instant(cancel_at, "data.object.cancel_at"))
        sources.update(cancel_scheduled="data.object.cancel_at", cancel_at="data.object.cancel_at")
    elif at_period_end:
        fields["cancel_scheduled"] = True
        sources["cancel_scheduled"] = "data.object.cancel_at_period_end"
        if period_end is not None:
            fields["cancel_at"] = _instant(period_end, "data.object.current_period_end")
            sources["cancel_at"] = "data.object.current_period_end"
    elif is_update and at_period_end is False:
        fields["cancel_scheduled"] = False
        sources["cancel_scheduled"] = "data.object.cancel_at_period_end"


def _mrr(items: list[dict[str, Any]], currency: Any) -> float | None:
    """Monthly recurring revenue over all items, or None if any item has no flat price."""
    total = 0.0
    for index, item in enumerate(items):
        price = item.get("price") or item.get("plan")
        unit_amount = dig(price, "unit_amount")
        if unit_amount is None:
            unit_amount = dig(price, "amount")
        if unit_amount is None:
            return None
        where = f"data.object.items.data.{index}"
        interval = dig(price, "recurring", "interval") or dig(price, "interval")
        count = dig(price, "recurring", "interval_count") or dig(price, "interval_count") or 1
        if not isinstance(interval, str) or interval not in _MONTHS_PER_INTERVAL:
            reason = f"unknown billing interval {interval!r}"
            raise PulseValidationError(where + ".price.recurring.interval", reason)
        if not _is_int(count) or count < 1:
            raise PulseValidationError(where + ".price.recurring.interval_count", "must be >= 1")
        quantity = item.get("quantity", 1)
        if not _is_int(quantity) or quantity < 0:
            raise PulseValidationError(where + ".quantity", "must be a non-negative integer")
        amount = _minor_units(unit_amount, currency, where + ".price.unit_amount")
        total += amount * quantity / (_MONTHS_PER_INTERVAL[interval] * count)
    return round(total, 4)


def _date(timestamp: Any, field: str) -> Any:
    return None if timestamp is None else _instant(timestamp, field).date()


def _account(
    obj: dict[str, Any], customer_accounts: AccountResolver | None, account_field: str
) -> tuple[Any, str]:
    for where in ((), ("subscription_details",), ("parent", "subscription_details")):
        account_id = dig(obj, *where, "metadata", account_field)
        if account_id is not None:
            return account_id, ".".join(("data", "object", *where, "metadata", account_field))
    customer = _id(obj.get("customer"))
    field = f"data.object.metadata.{account_field}"
    if not isinstance(customer, str):
        raise PulseValidationError(field, "missing, and the object names no customer to map")
    if customer_accounts is None:
        raise PulseValidationError(
            field, f"missing, and no customer -> account mapping was given for {customer!r}"
        )
    if callable(customer_accounts):
        account_id = customer_accounts(customer)
    else:
        account_id = customer_accounts.get(customer)
    if account_id is None:
        raise PulseValidationError(field, f"missing, and customer {customer!r} is not mapped")
    return account_id, "data.object.customer"
