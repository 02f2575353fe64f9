"""Segment / RudderStack calls become UsageEvent or UserLink, with Segment field names in errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.topics import payloads
from topics.adapters.segment import from_segment
from topics.errors import PulseValidationError
from topics.models import AccountProfile, UsageEvent, UserLink


def test_track_maps_common_fields() -> None:
    event = from_segment(payloads.segment_track())

    assert event == UsageEvent(
        event_id="ajs-next-1d0f5b1e",
        occurred_at=datetime(2026, 10, 5, 12, 0, 0, 120000, tzinfo=UTC),
        account_id="acme",
        user_id="u-1",
        name="Report Exported",
        properties={"format": "pdf", "pages": 3},
    )


def test_track_nested_properties_are_kept_as_sorted_compact_json() -> None:
    message = payloads.segment_track(
        properties={"products": [{"sku": "A", "qty": 2}], "cart": {"z": 1, "a": None}, "n": 1}
    )

    event = from_segment(message)

    assert isinstance(event, UsageEvent)
    assert event.properties == {
        "products": '[{"qty":2,"sku":"A"}]',
        "cart": '{"a":null,"z":1}',
        "n": 1,
    }


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"timestamp": None}, datetime(2026, 10, 5, 12, 0, tzinfo=UTC)),
        (
            {"timestamp": None, "originalTimestamp": None},
            datetime(2026, 10, 5, 12, 0, 1, tzinfo=UTC),
        ),
    ],
)
def test_time_falls_back_to_original_then_received(
    changes: dict[str, Any], expected: datetime
) -> None:
    assert from_segment(payloads.segment_track(**changes)).occurred_at == expected


def test_user_falls_back_to_anonymous_id_and_account_to_top_level_group_id() -> None:
    message = payloads.segment_track(userId=None, context={}, groupId="globex")

    event = from_segment(message)

    assert isinstance(event, UsageEvent)
    assert (event.user_id, event.account_id) == ("anon-7", "globex")


def test_track_without_account_is_user_only() -> None:
    event = from_segment(payloads.segment_track(context={"library": {"name": "x"}}))

    assert isinstance(event, UsageEvent)
    assert (event.account_id, event.user_id) == (None, "u-1")


def test_page_and_screen_views_name_the_view() -> None:
    page = from_segment(
        payloads.segment_track(
            type="page",
            event=None,
            name="Pricing",
            category="Docs",
            properties={"url": "https://x.test/pricing"},
        )
    )
    screen = from_segment(payloads.segment_track(type="screen", event=None, properties=None))

    assert isinstance(page, UsageEvent)
    assert page.name == "Page Viewed: Pricing"
    assert page.properties == {
        "url": "https://x.test/pricing",
        "name": "Pricing",
        "category": "Docs",
    }
    assert isinstance(screen, UsageEvent)
    assert (screen.name, screen.properties) == ("Screen Viewed", {})


def test_group_call_links_user_to_account_and_carries_its_traits() -> None:
    link = from_segment(payloads.segment_group())

    assert (
        link.model_dump()
        == UserLink(
            event_id="ajs-group-1",
            occurred_at=datetime(2026, 10, 5, 12, tzinfo=UTC),
            user_id="u-1",
            account_id="acme",
        ).model_dump()
    )
    assert link.account_traits == AccountProfile(
        event_id="ajs-group-1:traits",
        occurred_at=datetime(2026, 10, 5, 12, tzinfo=UTC),
        account_id="acme",
        name="Acme Corp",
        plan="enterprise",
    )
    assert link.dropped_traits == ()


@pytest.mark.parametrize(
    "where",
    [
        {"context": {"groupId": "acme"}},
        {"traits": {"groupId": "acme"}},
        {"traits": {"company": {"id": "acme", "name": "Acme"}}},
    ],
)
def test_identify_with_an_account_is_a_user_link(where: dict[str, Any]) -> None:
    message = payloads.segment_identify(**where)

    link = from_segment(message)

    assert isinstance(link, UserLink)
    assert (link.user_id, link.account_id) == ("u-1", "acme")


INVALID: list[tuple[dict[str, Any], str, str]] = [
    (payloads.segment_track(type="bogus"), "type", "unsupported Segment call 'bogus'"),
    (payloads.segment_track(messageId=7), "messageId", "valid string"),
    (payloads.segment_track(batch=[]), "batch", "/v1/batch envelope"),
    (payloads.segment_track(event=None), "event", "valid string"),
    (
        payloads.segment_track(userId=None, anonymousId=None, context={}),
        "userId",
        "account_id or user_id is required",
    ),
    (
        payloads.segment_track(timestamp=None, originalTimestamp=None, receivedAt=None),
        "timestamp",
        "valid datetime",
    ),
    (
        payloads.segment_track(timestamp="tuesday", originalTimestamp=None, receivedAt=None),
        "timestamp",
        "valid datetime",
    ),
    (payloads.segment_track(properties="nope"), "properties", "must be an object"),
    (payloads.segment_track(properties={"big": "x" * 2000}), "properties", "at most 1024"),
    (
        payloads.segment_track(properties={"k" * 200: 1}),
        "properties",
        "must be 1..128",
    ),
    (payloads.segment_group(groupId=None), "groupId", "valid string"),
    (payloads.segment_group(userId=None), "userId", "valid string"),
    (payloads.segment_group(context={"groupId": 42}, groupId=42), "groupId", "valid string"),
]


@pytest.mark.parametrize(("message", "field", "reason"), INVALID)
def test_invalid_calls_name_the_segment_field(
    message: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(PulseValidationError) as caught:
        from_segment(message)

    assert caught.value.field == field
    assert reason in caught.value.reason


def test_too_deeply_nested_property_is_rejected_not_crashed() -> None:
    deep: Any = 1
    for _ in range(300):
        deep = [deep]

    with pytest.raises(PulseValidationError) as caught:
        from_segment(payloads.segment_track(properties={"deep": deep}))

    assert caught.value.field == "properties.deep"
    assert "cannot be kept as JSON" in caught.value.reason
