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
        interval="year",
        interval_count=1,
        subscription_id="sub_1Pq",
        subscription_status="active",
        customer_id="cus_9s6",
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
        customer_id="cus_9s6",
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
        payloads.stripe_invoice("Customer Created!"),
        {},
        "type",
        "'Customer Created!' is not a Stripe event type",
    ),
    (payloads.stripe_invoice() | {"data": {"object": []}}, {}, "data.object", "must be an object"),
    (payloads.stripe_invoice() | {"created": "2026-10-05"}, {}, "created", "Unix timestamp"),
    (payloads.stripe_invoice() | {"created": 10**20}, {}, "created", "out of range"),
    (payloads.stripe_invoice() | {"id": None}, {}, "id", "valid string"),
    (payloads.stripe_invoice(amount_paid="12.50"), {}, "data.object.amount_paid", "minor units"),
    (payloads.stripe_invoice(currency="euro"), {}, "data.object.currency", "ISO 4217"),
    (
        payloads.stripe_invoice(parent=None, customer=None),
        {},
        "data.object.metadata.account_id",
        "names no customer, charge or payment",
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


# -- billing interval and scheduled cancellation, on payloads shaped as Stripe documents them --

PERIOD_END = 1682288167
"""The documented example's `items.data[].current_period_end` (2023-04-23T22:16:07Z)."""


def _documented_price(interval: str = "month", interval_count: int = 1, amount: int = 1000) -> dict:
    return {
        "id": f"price_{interval}_{interval_count}",
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": 1679609766,
        "currency": "usd",
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": None,
        "product": "prod_Na6dGcTsmU0I4R",
        "recurring": {
            "interval": interval,
            "interval_count": interval_count,
            "meter": None,
            "trial_period_days": None,
            "usage_type": "licensed",
        },
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring",
        "unit_amount": amount,
        "unit_amount_decimal": str(amount),
    }


def _documented_item(price: dict[str, Any], item_id: str = "si_Na6dzxczY5fwHx") -> dict:
    return {
        "id": item_id,
        "object": "subscription_item",
        "created": 1679609768,
        "current_period_end": PERIOD_END,
        "current_period_start": 1679609767,
        "metadata": {},
        "price": price,
        "quantity": 1,
        "subscription": "sub_1MowQVLkdIwHu7ixeRlqHVzs",
        "tax_rates": [],
    }


def _documented_subscription(
    event_type: str = "customer.subscription.updated",
    *,
    items: list[dict[str, Any]] | None = None,
    previous_attributes: dict[str, Any] | None = None,
    **changes: Any,
) -> dict[str, Any]:
    """A subscription event as Stripe's API reference shows it (API version 2025-03-31.basil:
    the period lives on the items), with the account in metadata."""
    subscription = {
        "id": "sub_1MowQVLkdIwHu7ixeRlqHVzs",
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"enabled": False, "liability": None},
        "billing_cycle_anchor": 1679609767,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": 1679609767,
        "currency": "usd",
        "customer": "cus_Na6dX7aXxi11N4",
        "days_until_due": None,
        "default_payment_method": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "ended_at": None,
        "items": {
            "object": "list",
            "data": items or [_documented_item(_documented_price())],
            "has_more": False,
            "total_count": len(items or [None]),
            "url": "/v1/subscription_items?subscription=sub_1MowQVLkdIwHu7ixeRlqHVzs",
        },
        "latest_invoice": "in_1MowQWLkdIwHu7ixuzkSPfKd",
        "livemode": False,
        "metadata": {"account_id": "acme"},
        "pending_update": None,
        "schedule": None,
        "start_date": 1679609767,
        "status": "active",
        "trial_end": None,
        "trial_start": None,
    } | changes
    data: dict[str, Any] = {"object": subscription}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {
        "id": "evt_1NG8Du2eZvKYlo2CUI79vXWy",
        "object": "event",
        "api_version": "2025-03-31.basil",
        "created": 1686089970,
        "data": data,
        "livemode": False,
        "pending_webhooks": 0,
        "request": {"id": "req_a1b2c3", "idempotency_key": None},
        "type": event_type,
    }


def test_documented_update_without_cancellation_withdraws_any_scheduled_one() -> None:
    event = from_stripe(
        _documented_subscription(
            previous_attributes={"cancel_at": PERIOD_END, "cancel_at_period_end": True}
        )
    )

    assert (event.interval, event.interval_count) == ("month", 1)
    assert (event.cancel_scheduled, event.cancel_at) == (False, None)
    assert event.renewal_date == date(2023, 4, 23)
    assert (event.plan, event.mrr) == ("price_month_1", 10.0)


def test_cancel_at_period_end_schedules_a_cancellation_at_the_period_end() -> None:
    message = _documented_subscription(
        cancel_at_period_end=True,
        canceled_at=1686089970,
        cancellation_details={
            "comment": None,
            "feedback": None,
            "reason": "cancellation_requested",
        },
        previous_attributes={"cancel_at_period_end": False, "canceled_at": None},
    )

    event = from_stripe(message)

    assert event.cancel_scheduled is True
    assert event.cancel_at == datetime.fromtimestamp(PERIOD_END, UTC)


@pytest.mark.parametrize("at_period_end", [False, True])
def test_cancel_at_timestamp_schedules_a_cancellation_then(at_period_end: bool) -> None:
    cancel_at = 1684880167  # a chosen date, or the period end Stripe fills in beside the flag
    message = _documented_subscription(cancel_at=cancel_at, cancel_at_period_end=at_period_end)

    event = from_stripe(message)

    assert event.cancel_scheduled is True
    assert event.cancel_at == datetime.fromtimestamp(cancel_at, UTC)


def test_subscription_level_period_end_of_older_api_versions_is_the_cancellation_date() -> None:
    message = _documented_subscription(cancel_at_period_end=True, current_period_end=1690000000)

    assert from_stripe(message).cancel_at == datetime.fromtimestamp(1690000000, UTC)


@pytest.mark.parametrize(
    ("event_type", "changes", "scheduled", "cancel_at"),
    [
        ("customer.subscription.created", {}, None, None),
        ("customer.subscription.created", {"cancel_at": PERIOD_END}, True, PERIOD_END),
        ("customer.subscription.deleted", {"cancel_at_period_end": True}, None, None),
        ("customer.subscription.deleted", {"cancel_at": PERIOD_END}, None, None),
    ],
)
def test_created_and_deleted_subscriptions_only_carry_a_cancellation_set_at_creation(
    event_type: str, changes: dict[str, Any], scheduled: bool | None, cancel_at: int | None
) -> None:
    event = from_stripe(_documented_subscription(event_type, **changes))

    assert event.cancel_scheduled is scheduled
    expected = None if cancel_at is None else datetime.fromtimestamp(cancel_at, UTC)
    assert event.cancel_at == expected
    assert event.interval == "month"


@pytest.mark.parametrize(
    ("periods", "expected"),
    [
        ([("year", 1), ("month", 1)], ("year", 1)),
        ([("month", 1), ("month", 3)], ("month", 3)),
        ([("month", 3), ("year", 1)], ("year", 1)),
        ([("week", 2), ("day", 7)], ("week", 2)),
    ],
)
def test_interval_is_the_longest_among_the_items(
    periods: list[tuple[str, int]], expected: tuple[str, int]
) -> None:
    items = [
        _documented_item(_documented_price(interval, count), f"si_{n}")
        for n, (interval, count) in enumerate(periods)
    ]

    event = from_stripe(_documented_subscription(items=items))

    assert (event.interval, event.interval_count) == expected


@pytest.mark.parametrize(
    ("message", "field", "reason"),
    [
        (_documented_subscription(cancel_at="soon"), "data.object.cancel_at", "Unix timestamp"),
        (
            _documented_subscription(cancel_at_period_end="yes"),
            "data.object.cancel_at_period_end",
            "true or false",
        ),
        (
            _documented_subscription(
                items=[  # a tiered first item leaves MRR unknown; the interval is still checked
                    _documented_item(_documented_price() | {"unit_amount": None}),
                    _documented_item(
                        _documented_price()
                        | {"recurring": {"interval": "month", "interval_count": -1}},
                        "si_2",
                    ),
                ]
            ),
            "data.object.items.data.1.price.recurring.interval_count",
            ">= 1",
        ),
    ],
)
def test_invalid_cancellation_and_interval_fields_are_named(
    message: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(PulseValidationError) as caught:
        from_stripe(message)

    assert caught.value.field == field
    assert reason in caught.value.reason


@pytest.mark.parametrize("options", [{}, {"customer_accounts": {}}])
def test_an_invoice_naming_only_its_customer_waits_for_the_customers_link(
    options: dict[str, Any],
) -> None:
    """No account metadata and no mapping: the event names its customer, and the worker
    resolves it through a link learned from another event (signals.resolve)."""
    event = from_stripe(payloads.stripe_invoice(parent=None), **options)

    assert (event.account_id, event.customer_id) == (None, "cus_9s6")


def test_a_dispute_naming_only_its_charge_is_refused_without_a_mapping() -> None:
    dispute = payloads.stripe_invoice(parent=None, customer=None, charge="ch_77")

    with pytest.raises(PulseValidationError, match="none of 'ch_77' is in the customer"):
        from_stripe(dispute)
