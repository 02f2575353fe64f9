"""Real Stripe, Segment and RudderStack payloads: none of a handled type is refused or
mapped lossily; types Pulse does not use are ignored, never dead-lettered.

The payloads and their sources are in tests/fixtures/producers (see its README).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from topics.adapters.segment import DROPPED_PROPERTIES
from topics.adapters.segment_traits import TRAITS
from topics.adapters.stripe_money import MONTHS_PER_INTERVAL
from topics.codec import decode_billing, decode_usage
from topics.errors import PulseIgnored, PulseValidationError
from topics.models import BillingEvent, UsageEvent, UserAlias, UserLink

FIXTURES = Path(__file__).parents[1] / "fixtures" / "producers"


def _rows() -> list[Any]:
    rows = []
    for path in sorted(FIXTURES.glob("*.jsonl")):
        for number, line in enumerate(path.read_bytes().splitlines(), 1):
            row = orjson.loads(line)
            kind = f"{path.stem}:{row['payload'].get('type')}"
            rows.append(pytest.param(path.stem, row, id=f"{path.stem}:{number}:{kind}"))
    return rows


ROWS = _rows()


def _customers_only(stripe_id: str) -> str | None:
    """The customer -> account mapping a team configures: customers, nothing else."""
    return f"acct-{stripe_id}" if stripe_id.startswith("cus_") else None


def _decode(producer: str, payload: dict[str, Any]) -> Any:
    data = orjson.dumps(payload)
    if producer == "stripe":
        return decode_billing(data, customer_accounts=_customers_only, stripe_accept_test_mode=True)
    return decode_usage(data)


def test_the_suite_is_big_and_sourced() -> None:
    assert len(ROWS) >= 150
    assert all(row.values[1]["source"].startswith("github.com/") for row in ROWS)


@pytest.mark.parametrize(("producer", "row"), ROWS)
def test_real_payload(producer: str, row: dict[str, Any]) -> None:
    payload = row["payload"]
    if row["expect"] == "ignored":
        with pytest.raises(PulseIgnored):
            _decode(producer, payload)
        return
    if row["expect"] == "dead_letter":
        with pytest.raises(PulseValidationError) as refused:
            _decode(producer, payload)
        assert refused.value.field == "data.object.metadata.account_id"  # names what to set
        return
    event = _decode(producer, payload)
    if producer == "stripe":
        _check_stripe(payload, event)
    else:
        _check_segment(payload, event)


def _minor(amount: int, currency: str) -> float:
    return float(amount) if currency.upper() == "JPY" else amount / 100


def _check_stripe(payload: dict[str, Any], event: BillingEvent) -> None:
    obj = payload["data"]["object"]
    assert event.event_id == payload["id"]
    assert event.occurred_at == datetime.fromtimestamp(payload["created"], UTC)
    kind = payload["type"]
    if kind.startswith("customer.subscription."):
        _check_subscription(kind, obj, event)
    elif kind.startswith("invoice."):
        field = "amount_paid" if event.action == "invoice_paid" else "amount_due"
        assert event.invoice_id == obj["id"]
        assert event.amount == _minor(obj[field], obj["currency"])
    elif kind.startswith("charge.dispute."):
        assert (event.invoice_id, event.amount) == (
            obj["id"],
            _minor(obj["amount"], obj["currency"]),
        )
    elif kind.startswith("charge."):
        field = "amount_refunded" if kind == "charge.refunded" else "amount"
        assert event.amount == _minor(obj[field], obj["currency"])


def _check_subscription(kind: str, obj: dict[str, Any], event: BillingEvent) -> None:
    assert event.subscription_id == obj["id"]
    ended = kind.endswith(".deleted") or obj.get("status") in ("canceled", "incomplete_expired")
    assert (event.action == "subscription_cancelled") == ended
    if obj.get("status") and not obj.get("pause_collection"):
        assert event.subscription_status == obj["status"]
    items = obj["items"]["data"]
    prices = [item.get("price") or item.get("plan") for item in items]
    licensed = [
        item.get("quantity")
        for item, price in zip(items, prices, strict=True)
        if (price.get("recurring") or {}).get("usage_type", price.get("usage_type")) != "metered"
    ]
    if any(q is not None for q in licensed):
        assert event.seats_purchased == sum(q for q in licensed if q is not None)
    flat = all(
        price.get("billing_scheme") != "tiered"
        and (price.get("recurring") or {}).get("usage_type", price.get("usage_type")) != "metered"
        and (price.get("unit_amount") if "unit_amount" in price else price.get("amount"))
        is not None
        for price in prices
    )
    assert (event.mrr is None) == (not flat)
    currency = obj.get("currency") or prices[0]["currency"]
    if flat and not obj.get("discount") and not obj.get("discounts"):
        expected = sum(
            _minor(p.get("unit_amount", p.get("amount")), currency)
            * (item.get("quantity") or 1)
            / (
                MONTHS_PER_INTERVAL[(p.get("recurring") or p)["interval"]]
                * ((p.get("recurring") or p).get("interval_count") or 1)
            )
            for item, p in zip(items, prices, strict=True)
        )
        assert event.mrr == pytest.approx(expected, abs=1e-3)
    if not ended and (obj.get("cancel_at") or obj.get("cancel_at_period_end")):
        assert event.cancel_scheduled is True
        assert event.cancel_at is not None


def _check_segment(payload: dict[str, Any], event: UsageEvent | UserLink | UserAlias) -> None:
    if payload.get("messageId"):
        assert event.event_id == str(payload["messageId"]).strip()
    user = payload.get("userId") or payload.get("anonymousId")
    if isinstance(event, UserAlias):  # the previous id is another id of the user
        assert (event.user_id, event.alias_of) == (payload["previousId"], user)
        return
    assert event.user_id == (str(user).strip() if user not in (None, "") else None)
    group = payload.get("groupId") or (payload.get("context") or {}).get("groupId")
    if group is not None:
        assert event.account_id == str(group).strip()
    if isinstance(event, UsageEvent):
        if payload["type"] == "track":
            assert event.name == payload["event"].strip()
        properties = payload.get("properties") or {}
        for key, value in properties.items():
            if key not in event.properties:
                assert DROPPED_PROPERTIES in event.properties
                continue
            if isinstance(value, bool | int | float) or value is None:
                assert event.properties[key] == value, key


def test_group_traits_pulse_reads_reach_the_account_profile() -> None:
    """Real group calls lose none of the account traits Pulse reads: each becomes a
    profile field of the linked account, or is named as dropped (then counted)."""
    checked = 0
    for source in ("segment", "rudderstack"):
        for line in (FIXTURES / f"{source}.jsonl").read_bytes().splitlines():
            payload = orjson.loads(line)["payload"]
            if payload.get("type") != "group" or not payload.get("groupId"):
                continue
            link = decode_usage(orjson.dumps(payload))
            assert isinstance(link, UserLink)
            traits = payload.get("traits") or {}
            profile = link.account_traits
            for field, names in TRAITS.items():
                name = next((n for n in names if traits.get(n) not in (None, "")), None)
                if name is None:
                    continue
                checked += 1
                kept = profile is not None and getattr(profile, field) is not None
                assert kept or f"traits.{name}" in link.dropped_traits, (source, name)
            if profile is not None:
                assert profile.account_id == link.account_id
    assert checked >= 2  # the Segment spec's example has a name and a plan
