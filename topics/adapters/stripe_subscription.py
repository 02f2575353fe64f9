"""A Stripe subscription object as BillingEvent fields: plan, seats, MRR, status, cancellation.

- Seats are the quantities of every licensed item summed (metered items carry
  usage, not seats; an item whose price metadata says `pulse_seats: "false"`,
  such as a storage add-on, is left out).
- The billing interval is the longest among the items (a yearly plan with a
  monthly add-on is a yearly contract).
- `status` is kept as `subscription_status`; `pause_collection` set makes it
  `paused` (Stripe keeps such a subscription `active`).
- A scheduled cancellation is `cancel_at` when Stripe gives one, else the
  period end under `cancel_at_period_end: true`. An update with neither says
  the cancellation is withdrawn (`cancel_scheduled=False`).
- A trial keeps its dates (`trial_start`, `trial_end`): a subscription that ends by
  its trial's end lapsed as a trial, whatever its price says.
- Plan limits come from metadata keys `api_calls_per_day_limit` and
  `data_volume_limit_gb`; subscription metadata (a negotiated deal) wins over
  the price's metadata (the list plan).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from topics.adapters._paths import dig
from topics.adapters.stripe_account import stripe_id
from topics.adapters.stripe_money import MONTHS_PER_INTERVAL, is_int, mrr, period, price_of
from topics.errors import PulseValidationError

__all__ = ["ENDED", "instant", "seats_before", "subscription_fields"]

ENDED = frozenset(["canceled", "incomplete_expired"])
"""Statuses after which a subscription bills no more."""
_LIMIT_KEYS = ("api_calls_per_day_limit", "data_volume_limit_gb")


def instant(timestamp: Any, field: str) -> datetime:
    """A Stripe Unix timestamp (seconds) as an aware UTC datetime."""
    if not is_int(timestamp):
        raise PulseValidationError(field, "must be a Unix timestamp in seconds")
    try:
        return datetime.fromtimestamp(timestamp, UTC)
    except (OverflowError, OSError, ValueError):
        raise PulseValidationError(field, f"{timestamp} is out of range") from None


def _date(timestamp: Any, field: str) -> date | None:
    return None if timestamp is None else instant(timestamp, field).date()


def subscription_fields(
    obj: dict[str, Any], kind: str, fields: dict[str, Any], sources: dict[str, str]
) -> None:
    """Fill `fields` from a subscription object carried by event type `kind`."""
    items = dig(obj, "items", "data")
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise PulseValidationError("data.object.items.data", "must be a non-empty list of items")
    price = price_of(items[0])
    currency = obj.get("currency") or price.get("currency")
    period_end = obj.get("current_period_end") or items[0].get("current_period_end")
    status = obj.get("status")
    if obj.get("pause_collection") and status == "active":
        status = "paused"
    ended = kind == "customer.subscription.deleted" or (isinstance(status, str) and status in ENDED)
    fields.update(
        action="subscription_cancelled" if ended else fields["action"],
        subscription_id=obj.get("id"),
        subscription_status=status,
        invoice_id=stripe_id(obj.get("latest_invoice")),
        plan=price.get("nickname") or price.get("id"),
        seats_purchased=_seats(items),
        currency=currency,
        mrr=mrr(obj, items, currency),
        renewal_date=None if ended else _date(period_end, "data.object.current_period_end"),
    )
    fields["interval"], fields["interval_count"] = _billing_period(items)
    for key in ("trial_start", "trial_end"):
        if obj.get(key) is not None:
            fields[key] = instant(obj[key], f"data.object.{key}")
            sources[key] = f"data.object.{key}"
    sources.update(
        subscription_id="data.object.id",
        subscription_status="data.object.status",
        invoice_id="data.object.latest_invoice",
        plan="data.object.items.data.0.price",
        seats_purchased="data.object.items.data",
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
    if not ended:
        _cancellation(obj, period_end, kind != "customer.subscription.created", fields, sources)


def seats_before(previous: Any) -> int | None:
    """Seats before an update, from its `previous_attributes`: the items as they were
    (every licensed quantity summed, as for the update), or a legacy top-level
    `quantity`. None when the update did not change them."""
    if not isinstance(previous, dict):
        return None
    items = dig(previous, "items", "data")
    if isinstance(items, list) and items and all(isinstance(i, dict) for i in items):
        return _seats(items)
    quantity = previous.get("quantity")
    return quantity if is_int(quantity) and quantity >= 0 else None


def _seats(items: list[dict[str, Any]]) -> int | None:
    seats, counted = 0, False
    for item in items:
        price = price_of(item)
        metered = (dig(price, "recurring", "usage_type") or price.get("usage_type")) == "metered"
        if metered or dig(price, "metadata", "pulse_seats") == "false":
            continue
        quantity = item.get("quantity")
        if is_int(quantity) and quantity >= 0:
            seats, counted = seats + quantity, True
    return seats if counted else None


def _billing_period(items: list[dict[str, Any]]) -> tuple[str, int]:
    """The longest billing period among the items, as (interval, interval_count)."""
    periods = []
    for index, item in enumerate(items):
        interval, count = period(price_of(item), f"data.object.items.data.{index}.price.recurring")
        periods.append((MONTHS_PER_INTERVAL[interval] * count, interval, count))
    _, interval, count = max(periods, key=lambda p: p[0])
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
        fields.update(cancel_scheduled=True, cancel_at=instant(cancel_at, "data.object.cancel_at"))
        sources.update(cancel_scheduled="data.object.cancel_at", cancel_at="data.object.cancel_at")
    elif at_period_end:
        fields["cancel_scheduled"] = True
        sources["cancel_scheduled"] = "data.object.cancel_at_period_end"
        if period_end is not None:
            fields["cancel_at"] = instant(period_end, "data.object.current_period_end")
            sources["cancel_at"] = "data.object.current_period_end"
    elif is_update and at_period_end is False:
        fields["cancel_scheduled"] = False
        sources["cancel_scheduled"] = "data.object.cancel_at_period_end"
