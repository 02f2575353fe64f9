"""Segment and RudderStack calls as their SDKs really send them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.topics import payloads
from topics.adapters.segment import from_segment, split_batch
from topics.errors import PulseIgnored, PulseValidationError
from topics.models import UsageEvent, UserAlias, UserLink


def test_a_call_without_message_id_gets_a_deterministic_id() -> None:
    call = payloads.segment_track()
    del call["messageId"]
    first, again = from_segment(dict(call)), from_segment(dict(call))
    other = from_segment(call | {"event": "Something Else"})
    assert first.event_id == again.event_id != other.event_id
    assert first.event_id.startswith("pulse-")


def test_rudderstack_identify_reads_context_traits() -> None:
    call = {
        "type": "identify",
        "messageId": "m1",
        "userId": "u-1",
        "timestamp": payloads.T0,
        "context": {"traits": {"company": {"id": "acme"}}},
    }
    link = from_segment(call)
    assert isinstance(link, UserLink)
    assert link.account_id == "acme"


@pytest.mark.parametrize(
    ("extra", "name"),
    [
        ({"name": "Home"}, "Screen Viewed: Home"),
        ({"properties": {"name": "Settings"}}, "Screen Viewed: Settings"),
        ({"event": "Checkout"}, "Screen Viewed: Checkout"),
    ],
)
def test_screen_names_come_from_name_properties_or_event(
    extra: dict[str, object], name: str
) -> None:
    call = payloads.segment_track(type="screen", event=None) | extra
    event = from_segment(call)
    assert isinstance(event, UsageEvent)
    assert event.name == name


def test_alias_says_the_previous_id_is_another_id_of_the_user() -> None:
    alias = from_segment(payloads.segment_track(type="alias", previousId="anon-1"))

    assert isinstance(alias, UserAlias)
    assert (alias.user_id, alias.alias_of) == ("anon-1", "u-1")


def test_alias_of_an_anonymous_user_names_the_anonymous_id() -> None:
    call = payloads.segment_track(type="alias", previousId="anon-1", userId=None)
    alias = from_segment(call | {"anonymousId": "anon-2"})

    assert isinstance(alias, UserAlias)
    assert alias.alias_of == "anon-2"


def test_alias_to_itself_is_ignored_and_without_previous_id_refused() -> None:
    with pytest.raises(PulseIgnored):
        from_segment(payloads.segment_track(type="alias", previousId="u-1"))
    with pytest.raises(PulseValidationError, match="previousId"):
        from_segment(payloads.segment_track(type="alias"))


def test_batch_envelope_splits_into_calls_with_shared_context() -> None:
    envelope = {
        "batch": [payloads.segment_track(context={}), payloads.segment_track(messageId="m2")],
        "context": {"groupId": "acme"},
    }
    calls = split_batch(envelope)
    assert [c["messageId"] for c in calls] == ["ajs-next-1d0f5b1e", "m2"]
    assert all(from_segment(c).account_id for c in calls)


def test_identify_without_account_is_ignored_with_the_way_to_link_it() -> None:
    call = {"type": "identify", "messageId": "m", "userId": "u", "timestamp": payloads.T0}
    with pytest.raises(PulseIgnored, match=r"context\.groupId"):
        from_segment(call)


def test_time_without_offset_is_utc_and_an_unreadable_time_falls_back() -> None:
    naive = from_segment(payloads.segment_track(timestamp="2020-01-15 14:57:24.898"))
    assert naive.occurred_at == datetime(2020, 1, 15, 14, 57, 24, 898000, tzinfo=UTC)
    garbled = payloads.segment_track(timestamp=None, originalTimestamp="2024-06-ThT03:53:33")
    assert from_segment(garbled).occurred_at == datetime(2026, 10, 5, 12, 0, 1, tzinfo=UTC)


def test_long_and_many_properties_are_cut_not_refused() -> None:
    many = {f"p{i:03d}": i for i in range(90)} | {"cart": [{"sku": "x" * 50}] * 40}
    event = from_segment(payloads.segment_track(properties=many))
    assert isinstance(event, UsageEvent)
    assert len(event.properties) == 64
    assert event.properties["pulse_dropped_properties"] == 28
    assert event.properties["p000"] == 0
