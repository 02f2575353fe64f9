"""Stripe as a real account sends it: statuses, scheduled cancellations, every handled type,
ignored types, test mode, MRR for metered prices and discounts, accounts from older invoices."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.topics import payloads
from topics.adapters.stripe import from_stripe
from topics.codec import decode_billing
from topics.errors import PulseIgnored, PulseValidationError


def _price(**changes: Any) -> dict[str, Any]:
    item = payloads.stripe_subscription()["data"]["object"]["items"]["data"][0]
    return dict(item["price"]) | changes


def _items(*prices: dict[str, Any], quantity: int = 1) -> dict[str, Any]:
    return {
        "data": [{"id": f"si_{i}", "quantity": quantity, "price": p} for i, p in enumerate(prices)]
    }


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("active", "subscription_updated"),
        ("trialing", "subscription_updated"),
        ("past_due", "subscription_updated"),
        ("unpaid", "subscription_updated"),
        ("incomplete", "subscription_updated"),
        ("paused", "subscription_updated"),
        ("canceled", "subscription_cancelled"),
        ("incomplete_expired", "subscription_cancelled"),
    ],
)
def test_every_subscription_status_is_kept(status: str, action: str) -> None:
    event = from_stripe(payloads.stripe_subscription(status=status, latest_invoice="in_9"))
    assert (event.action, event.subscription_status, event.invoice_id) == (action, status, "in_9")


def test_a_trial_keeps_its_dates() -> None:
    message = payloads.stripe_subscription(
        status="trialing", trial_start=1780000000, trial_end=1781209600
    )
    event = from_stripe(message)
    assert event.trial_start is not None
    assert event.trial_end is not None
    assert (int(event.trial_start.timestamp()), int(event.trial_end.timestamp())) == (
        1780000000,
        1781209600,
    )
    assert from_stripe(payloads.stripe_subscription()).trial_end is None


def test_a_trial_end_that_is_no_timestamp_is_refused_by_name() -> None:
    with pytest.raises(PulseValidationError, match=r"data\.object\.trial_end"):
        from_stripe(payloads.stripe_subscription(trial_end="tomorrow"))


def test_an_update_says_the_seats_it_had_before() -> None:
    # Stripe puts the items as they were in previous_attributes (25 seats now)
    message = payloads.stripe_subscription()
    before = message["data"]["object"]["items"]["data"][0] | {"quantity": 20}
    message["data"]["previous_attributes"] = {"items": {"object": "list", "data": [before]}}
    assert from_stripe(message).seats_before == 20
    message["data"]["previous_attributes"] = {"quantity": 18}  # a legacy single quantity
    assert from_stripe(message).seats_before == 18
    message["data"]["previous_attributes"] = {"cancel_at_period_end": False}
    assert from_stripe(message).seats_before is None
    created = payloads.stripe_subscription("customer.subscription.created")
    created["data"]["previous_attributes"] = {"quantity": 18}
    assert from_stripe(created).seats_before is None


def test_pause_collection_makes_an_active_subscription_paused() -> None:
    message = payloads.stripe_subscription(pause_collection={"behavior": "void"})
    assert from_stripe(message).subscription_status == "paused"


def test_cancel_at_period_end_is_a_scheduled_cancellation_with_its_date() -> None:
    message = payloads.stripe_subscription(cancel_at_period_end=True, current_period_end=1822824000)
    event = from_stripe(message)
    assert event.cancel_scheduled is True
    assert event.cancel_at is not None
    assert int(event.cancel_at.timestamp()) == 1822824000


@pytest.mark.parametrize(
    ("event_type", "obj", "action", "amount"),
    [
        ("invoice.payment_succeeded", {}, "invoice_paid", 1250.0),
        ("invoice.payment_action_required", {}, "payment_failed", 1250.0),
        (
            "charge.failed",
            {"object": "charge", "amount": 5000, "invoice": "in_7"},
            "payment_failed",
            50.0,
        ),
        ("charge.refunded", {"object": "charge", "amount_refunded": 700}, "refund", 7.0),
        (
            "charge.dispute.created",
            {"object": "dispute", "id": "dp_1", "amount": 900},
            "payment_failed",
            9.0,
        ),
        (
            "charge.dispute.closed",
            {"object": "dispute", "id": "dp_1", "amount": 900},
            "payment_recovered",
            9.0,
        ),
        (
            "checkout.session.completed",
            {"mode": "payment", "amount_total": 4200},
            "invoice_paid",
            42.0,
        ),
    ],
)
def test_payment_types_are_handled(
    event_type: str, obj: dict[str, Any], action: str, amount: float
) -> None:
    event = from_stripe(payloads.stripe_invoice(event_type, **obj))
    assert (event.action, event.amount, event.account_id) == (action, amount, "acme")


@pytest.mark.parametrize(
    "event_type",
    [
        "customer.subscription.trial_will_end",
        "customer.subscription.paused",
        "customer.subscription.resumed",
    ],
)
def test_subscription_lifecycle_types_update_the_subscription(event_type: str) -> None:
    assert from_stripe(payloads.stripe_subscription(event_type)).action == "subscription_updated"


def test_unsupported_types_are_ignored_not_invalid() -> None:
    with pytest.raises(PulseIgnored) as raised:
        decode_billing(orjson.dumps(payloads.stripe_invoice("customer.created")))
    assert raised.value.kind == "stripe:customer.created"


def test_test_mode_is_ignored_unless_accepted() -> None:
    data = orjson.dumps(payloads.stripe_invoice())  # livemode: false
    with pytest.raises(PulseIgnored, match="test-mode"):
        decode_billing(data, stripe_accept_test_mode=False)
    assert decode_billing(data, stripe_accept_test_mode=True).action == "invoice_paid"


def test_metered_and_tiered_prices_make_mrr_unknown() -> None:
    metered = _price(recurring={"interval": "month", "usage_type": "metered"}, unit_amount=10)
    tiered = _price(billing_scheme="tiered", unit_amount=None)
    for price in (metered, tiered):
        assert from_stripe(payloads.stripe_subscription(items=_items(price))).mrr is None


def test_mrr_counts_quantity_items_and_discounts() -> None:
    monthly = _price(unit_amount=1000, recurring={"interval": "month"})
    yearly = _price(unit_amount=120000, recurring={"interval": "year"})
    message = payloads.stripe_subscription(
        items=_items(monthly, yearly, quantity=2),
        discount={"coupon": {"id": "half", "percent_off": 50}},
    )
    # (2 x 10 + 2 x 1200 / 12) x 50% = 110
    assert from_stripe(message).mrr == 110.0
    amount_off = payloads.stripe_subscription(
        items=_items(monthly, quantity=3),
        discounts=[{"coupon": {"id": "five", "amount_off": 500, "currency": "usd"}}],
    )
    assert from_stripe(amount_off).mrr == 25.0


def test_seats_sum_licensed_items_but_not_metered_ones() -> None:
    metered = _price(recurring={"interval": "month", "usage_type": "metered"})
    items = {
        "data": [
            {"quantity": 10, "price": _price()},
            {"quantity": 5, "price": _price()},
            {"price": metered},
        ]
    }
    assert from_stripe(payloads.stripe_subscription(items=items)).seats_purchased == 15


def test_account_from_older_invoice_lines_and_customer_metadata() -> None:
    lines = {"data": [{"id": "il_1", "metadata": {"account_id": "old-acme"}}]}
    old = payloads.stripe_invoice(parent=None, lines=lines)
    assert from_stripe(old).account_id == "old-acme"
    expanded = payloads.stripe_invoice(
        parent=None, customer={"id": "cus_1", "metadata": {"account_id": "c-acme"}}
    )
    assert from_stripe(expanded).account_id == "c-acme"
    mapped = payloads.stripe_invoice(parent=None)
    assert from_stripe(mapped, customer_accounts={"cus_9s6": "mapped"}).account_id == "mapped"
