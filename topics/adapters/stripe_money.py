"""Stripe amounts: minor units by currency, and a subscription's monthly recurring revenue.

MRR sums every item (a base plan plus add-ons) times its quantity, each
normalised to a month by its billing interval, then applies the
subscription's discounts (percent or amount off, from `discount` or the newer
`discounts` list). An item priced by usage (`recurring.usage_type: metered`)
or by tiers (`billing_scheme: tiered`, or no flat `unit_amount`) makes MRR
unknown (None): a per-unit rate is not revenue.
"""

from __future__ import annotations

from typing import Any, TypeGuard

from topics.adapters._paths import dig
from topics.errors import PulseValidationError
from topics.models.base import INT64_MAX

__all__ = ["MONTHS_PER_INTERVAL", "is_int", "minor_units", "mrr", "price_of"]

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
MONTHS_PER_INTERVAL = {"day": 12 / 365, "week": 12 / 52, "month": 1.0, "year": 12.0}


def is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def minor_units(value: Any, currency: Any, field: str) -> float:
    if not is_int(value) or abs(value) > INT64_MAX:
        raise PulseValidationError(field, "must be a 64-bit integer amount in minor units")
    code = currency.upper() if isinstance(currency, str) else ""
    if code in _ZERO_DECIMAL:
        return float(value)
    return value / (1000 if code in _THREE_DECIMAL else 100)


def price_of(item: dict[str, Any]) -> dict[str, Any]:
    """An item's price, or its legacy `plan` (API versions before 2018)."""
    price = item.get("price") or item.get("plan")
    return price if isinstance(price, dict) else {}


def period(price: dict[str, Any], where: str) -> tuple[str, int]:
    """A price's billing (interval, interval_count), from `recurring` or a legacy plan."""
    interval = dig(price, "recurring", "interval") or price.get("interval")
    count = dig(price, "recurring", "interval_count") or price.get("interval_count") or 1
    if not isinstance(interval, str) or interval not in MONTHS_PER_INTERVAL:
        raise PulseValidationError(where + ".interval", f"unknown billing interval {interval!r}")
    if not is_int(count) or count < 1:
        raise PulseValidationError(where + ".interval_count", "must be >= 1")
    return interval, count


def _flat_amount(price: dict[str, Any]) -> Any:
    """The flat unit amount, or None when the price is metered or tiered."""
    if dig(price, "recurring", "usage_type") == "metered" or price.get("usage_type") == "metered":
        return None
    if price.get("billing_scheme") == "tiered":
        return None
    amount = price.get("unit_amount")
    return price.get("amount") if amount is None else amount


def mrr(obj: dict[str, Any], items: list[dict[str, Any]], currency: Any) -> float | None:
    """Monthly recurring revenue after discounts, or None if any item has no flat price."""
    total, months = 0.0, 1.0
    for index, item in enumerate(items):
        where = f"data.object.items.data.{index}"
        price = price_of(item)
        unit_amount = _flat_amount(price)
        if unit_amount is None:
            return None
        interval, count = period(price, where + ".price.recurring")
        quantity = item.get("quantity", 1)
        if quantity is None:
            quantity = 1
        if not is_int(quantity) or quantity < 0:
            raise PulseValidationError(where + ".quantity", "must be a non-negative integer")
        amount = minor_units(unit_amount, currency, where + ".price.unit_amount")
        months = max(months, MONTHS_PER_INTERVAL[interval] * count)
        total += amount * quantity / (MONTHS_PER_INTERVAL[interval] * count)
    return round(max(0.0, _discounted(obj, total, currency, months)), 4)


def _discounted(obj: dict[str, Any], total: float, currency: Any, months: float) -> float:
    """Apply each coupon: percent off scales; amount off (taken once per invoice, i.e.
    per billing period of `months`) is spread over the period's months."""
    discounts = [obj.get("discount"), *(obj.get("discounts") or [])]
    seen: set[Any] = set()
    for discount in discounts:
        if not isinstance(discount, dict):
            continue  # unexpanded discount ids say nothing about the amount
        coupon = discount.get("coupon") or dig(discount, "source", "coupon")
        coupon_id = coupon.get("id") if isinstance(coupon, dict) else None
        if not isinstance(coupon, dict) or (isinstance(coupon_id, str) and coupon_id in seen):
            continue
        if isinstance(coupon_id, str):
            seen.add(coupon_id)
        percent = coupon.get("percent_off")
        amount_off = coupon.get("amount_off")
        if isinstance(percent, int | float) and not isinstance(percent, bool):
            total *= 1 - min(100.0, max(0.0, float(percent))) / 100
        elif is_int(amount_off):
            off = minor_units(amount_off, coupon.get("currency") or currency, "coupon.amount_off")
            total -= off / months
    return total
