"""Stripe events become BillingEvent: amounts in currency units, MRR per month, account resolved."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from tests.topics import payloads
from topics.adapters.stripe import from_stripe
from topics.errors import PulseValidationError
from topics.models import BillingEvent

OCCURRED = datetime(2026, 10, 5, 12, tzinfo=UTC)


def _item(**changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = payloads.stripe_subscription()["data"]["object"]["items"]["data"][0]
    return item | changes


def _price(**changes: Any) -> dict[str, Any]:
    price: dict[str, Any] = _item()["price"]
    return price | changes


@pytest.mark.parametrize(
    ("event_type", "action", "renewal"),
    [
        ("customer.subscription.created", "subscription_started", date(2027, 10, 6)),
        ("customer.subscription.updated", "subscription_updated", date(2027, 10, 6)),
        ("customer.subscription.deleted", "subscription_cancelled", None),
    ],
)
def test_subscription_events(event_type: str, action: str, renewal: date | None) -> None:
    event = from_stripe(payloads.stripe_subscription(event_type))

    assert event == BillingEvent(
        event_id="evt_1PsXyZ",
        occurred_at=OCCURRED,
        account_id="acme",
        action=action,  # type: ignore[arg-type]
        plan="Growth",
        seats_purchased=25,
        mrr=1250.0,
        currency="USD",
        renewal_date=renewal,
        api_calls_per_day_limit=100000,
        data_volume_limit_gb=50.0,
    )


@pytest.mark.parametrize(
    ("recurring", "unit_amount", "currency", "mrr"),
    [
        ({"interval": "month", "interval_count": 1}, 4000, "usd", 1000.0),
        ({"interval": "month", "interval_count": 3}, 6000, "usd", 500.0),
        ({"interval": "year", "interval_count": 1}, 60000, "usd", 1250.0),
        ({"interval": "week", "interval_count": 1}, 1200, "usd", 1300.0),
        ({"interval": "day", "interval_count": 1}, 100, "usd", 760.4167),
        ({"interval": "month", "interval_count": 1}, 4000, "jpy", 100000.0),
        ({"interval": "month", "interval_count": 1}, 4000, "kwd", 100.0),
    ],
)
def test_mrr_is_normalised_to_a_month_in_currency_units(
    recurring: dict[str, Any], unit_amount: int, currency: str, mrr: float
) -> None:
    price = _price(recurring=recurring, unit_amount=unit_amount)
    message = payloads.stripe_subscription(currency=currency, items={"data": [_item(price=price)]})

    assert from_stripe(message).mrr == mrr


def test_mrr_sums_add_on_items_and_is_unknown_for_tiered_prices() -> None:
    addon = _item(quantity=2, price=_price(unit_amount=1000, recurring={"interval": "month"}))
    tiered = _item(price=_price(unit_amount=None))

    with_addon = payloads.stripe_subscription(items={"data": [_item(), addon]})
    with_tiered = payloads.stripe_subscription(items={"data": [_item(), tiered]})

    assert from_stripe(with_addon).mrr == 1270.0
    assert from_stripe(with_tiered).mrr is None


def test_plan_falls_back_to_price_id_then_legacy_plan_id() -> None:
    by_price_id = _item(price=_price(nickname=None))
    by_plan = {"quantity": 3, "plan": {"id": "plan_old", "amount": 900, "interval": "month"}}

    first = from_stripe(payloads.stripe_subscription(items={"data": [by_price_id]}))
    legacy = from_stripe(payloads.stripe_subscription(items={"data": [by_plan]}))

    assert first.plan == "price_growth_yearly"
    assert (legacy.plan, legacy.seats_purchased, legacy.mrr) == ("plan_old", 3, 27.0)


def test_renewal_date_reads_subscription_level_period_end_first() -> None:
    event = from_stripe(payloads.stripe_subscription(current_period_end=1799000000))

    assert event.renewal_date == date(2027, 1, 3)


def test_subscription_metadata_limits_override_the_price() -> None:
    message = payloads.stripe_subscription(
        metadata={"account_id": "acme", "api_calls_per_day_limit": "250000"}
    )

    event = from_stripe(message)

    assert (event.api_calls_per_day_limit, event.data_volume_limit_gb) == (250000, 50.0)


@pytest.mark.parametrize(
    ("event_type", "action", "amount"),
    [
        ("invoice.paid", "invoice_paid", 1250.0),
        ("invoice.payment_failed", "payment_failed", 1300.0),
    ],
)
def test_invoice_events(event_type: str, action: str, amount: float) -> None:
    event = from_stripe(payloads.stripe_invoice(event_type, amount_paid=125000, amount_due=130000))

    assert event == BillingEvent(
        event_id="evt_1PsXyZ",
        occurred_at=OCCURRED,
        account_id="acme",
        action=action,  # type: ignore[arg-type]
        amount=amount,
        currency="EUR",
        invoice_id="in_1Pr",
    )


def test_refund_from_charge_refunded() -> None:
    charge = {
        "id": "ch_1",
        "object": "charge",
        "customer": "cus_9s6",
        "currency": "usd",
        "amount_refunded": 4999,
        "invoice": {"id": "in_1Pr"},
        "metadata": {"account_id": "acme"},
    }
    message = payloads.stripe_invoice() | {"type": "charge.refunded", "data": {"object": charge}}

    event = from_stripe(message)

    assert (event.action, event.amount, event.invoice_id) == ("refund", 49.99, "in_1Pr")


@pytest.mark.parametrize("accounts", [{"cus_9s6": "globex"}, {"cus_9s6": "globex"}.get])
def test_customer_mapping_resolves_accounts_without_metadata(accounts: Any) -> None:
    message = payloads.stripe_invoice(parent=None, customer={"id": "cus_9s6", "object": "customer"})

    assert from_stripe(message, customer_accounts=accounts).account_id == "globex"


def test_account_metadata_field_is_configurable() -> None:
    message = payloads.stripe_subscription(metadata={"pulse_account": "initech"})

    assert from_stripe(message, account_field="pulse_account").account_id == "initech"


INVALID: list[tuple[dict[str, Any], dict[str, Any], str, str]] = [
    (
        payloads.stripe_invoice("customer.created"),
        {},
        "type",
        "unsupported Stripe event type 'customer.created'",
    ),
    (payloads.stripe_invoice() | {"data": {"object": []}}, {}, "data.object", "must be an object"),
    (payloads.stripe_invoice() | {"created": "2026-10-05"}, {}, "created", "Unix timestamp"),
    (payloads.stripe_invoice() | {"created": 10**20}, {}, "created", "out of range"),
    (payloads.stripe_invoice() | {"id": None}, {}, "id", "valid string"),
    (payloads.stripe_invoice(amount_paid="12.50"), {}, "data.object.amount_paid", "minor units"),
    (payloads.stripe_invoice(currency="euro"), {}, "data.object.currency", "ISO 4217"),
    (
        payloads.stripe_invoice(parent=None),
        {},
        "data.object.metadata.account_id",
        "no customer -> account mapping was given for 'cus_9s6'",
    ),
    (
        payloads.stripe_invoice(parent=None),
        {"customer_accounts": {}},
        "data.object.metadata.account_id",
        "customer 'cus_9s6' is not mapped",
    ),
    (
        payloads.stripe_invoice(parent=None, customer=None),
        {},
        "data.object.metadata.account_id",
        "names no customer",
    ),
    (
        payloads.stripe_subscription(items={"data": []}),
        {},
        "data.object.items.data",
        "non-empty list",
    ),
    (
        payloads.stripe_subscription(
            items={"data": [_item(price=_price(recurring={"interval": "fortnight"}))]}
        ),
        {},
        "data.object.items.data.0.price.recurring.interval",
        "unknown billing interval",
    ),
    (
        payloads.stripe_subscription(items={"data": [_item(quantity=-1)]}),
        {},
        "data.object.items.data.0.quantity",
        "non-negative",
    ),
    (
        payloads.stripe_subscription(current_period_end="soon"),
        {},
        "data.object.current_period_end",
        "Unix timestamp",
    ),
    (
        payloads.stripe_subscription(
            metadata={"account_id": "acme", "api_calls_per_day_limit": "lots"}
        ),
        {},
        "data.object.metadata.api_calls_per_day_limit",
        "valid integer",
    ),
    (
        payloads.stripe_subscription(
            items={"data": [_item(price=_price(metadata={"data_volume_limit_gb": "-1"}))]}
        ),
        {},
        "data.object.items.data.0.price.metadata.data_volume_limit_gb",
        "greater than or equal to 0",
    ),
    (
        payloads.stripe_subscription(metadata={"account_id": ""}),
        {},
        "data.object.metadata.account_id",
        "at least 1 character",
    ),
]


@pytest.mark.parametrize(("message", "options", "field", "reason"), INVALID)
def test_invalid_events_name_the_stripe_field(
    message: dict[str, Any], options: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(PulseValidationError) as caught:
        from_stripe(message, **options)

    assert caught.value.field == field
    assert reason in caught.value.reason
