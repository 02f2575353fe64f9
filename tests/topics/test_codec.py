"""Codec: bytes in, one model or one PulseValidationError out; compact bytes back."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from tests.topics import payloads
from topics.catalogue import TopicKind
from topics.codec import (
    MAX_ERROR_MESSAGE_CHARS,
    MAX_MESSAGE_BYTES,
    dead_letter,
    decode_accounts,
    decode_billing,
    decode_commands,
    decode_feedback,
    decode_input,
    decode_output,
    decode_own_input,
    decode_tickets,
    decode_usage,
    encode,
    message_key,
)
from topics.errors import MAX_FIELD_CHARS, MAX_REASON_CHARS, PulseValidationError
from topics.models import (
    AccountProfile,
    BillingEvent,
    DeadLetter,
    HealthSnapshot,
    PulseModel,
    SurveyResponse,
    TicketEvent,
    Trigger,
    UsageEvent,
    UserAlias,
    UserLink,
)

NOW = datetime(2026, 10, 5, 12, tzinfo=UTC)

DECODERS: list[tuple[Callable[..., PulseModel], dict[str, Any], type[PulseModel]]] = [
    (decode_usage, payloads.usage(), UsageEvent),
    (decode_usage, payloads.user_link(), UserLink),
    (decode_usage, payloads.segment_track(), UsageEvent),
    (decode_usage, payloads.segment_group(), UserLink),
    (decode_tickets, payloads.ticket(), TicketEvent),
    (decode_billing, payloads.billing(), BillingEvent),
    (decode_billing, payloads.stripe_subscription(), BillingEvent),
    (decode_feedback, payloads.survey(), SurveyResponse),
    (decode_accounts, payloads.account(), AccountProfile),
]


@pytest.mark.parametrize(("decode", "payload", "model"), DECODERS)
def test_decoders_accept_their_shapes(
    decode: Callable[..., PulseModel], payload: dict[str, Any], model: type[PulseModel]
) -> None:
    assert type(decode(orjson.dumps(payload))) is model


@pytest.mark.parametrize(("decode", "payload", "model"), DECODERS)
def test_decoded_events_round_trip_through_encode(
    decode: Callable[..., PulseModel], payload: dict[str, Any], model: type[PulseModel]
) -> None:
    event = decode(orjson.dumps(payload))

    # Fields, not private attributes: a group call's account traits travel as a profile
    # of their own (UserLink.account_traits), not inside the link's Pulse shape.
    assert decode(encode(event)).model_dump() == event.model_dump()


@pytest.mark.parametrize(("decode", "payload", "model"), DECODERS)
def test_own_input_reads_back_what_a_decoder_gave(
    decode: Callable[..., PulseModel], payload: dict[str, Any], model: type[PulseModel]
) -> None:
    """Producer shapes (Segment, Stripe) decoded once, encoded, then read back as
    Pulse's own: the event the decoder gave, with no shape to recognise again."""
    event = decode(orjson.dumps(payload))

    again = decode_own_input(encode(event))

    assert type(again) is model
    assert again.model_dump() == event.model_dump()


@pytest.mark.parametrize(
    "model",
    [
        UserAlias(event_id="a1", occurred_at=NOW, user_id="anon-1", alias_of="u-1"),
        *(decode_commands(orjson.dumps(p)) for p in (payloads.snooze(), payloads.override())),
        decode_commands(orjson.dumps(payloads.feedback())),
    ],
    ids=lambda model: model.type,
)
def test_own_input_reads_back_aliases_and_commands(model: PulseModel) -> None:
    assert decode_own_input(encode(model)) == model


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b'{"type": "page", "event_id": "e1"}', "'page'"),
        (b"not json", "JSON"),
        (orjson.dumps(payloads.segment_track()), "track.event"),
    ],
)
def test_own_input_refuses_what_is_not_pulse_s_own_shape(data: bytes, said: str) -> None:
    """Only Pulse's own shape: a Segment call is not recognised here, it is refused."""
    with pytest.raises(PulseValidationError) as caught:
        decode_own_input(data)
    assert said in str(caught.value)


def test_vendor_field_names_inside_properties_do_not_change_the_shape() -> None:
    payload = payloads.usage(properties={"role": "group", "messageId": "m"})

    event = decode_usage(orjson.dumps(payload))

    assert event == UsageEvent.model_validate(payload)


def test_encode_is_compact_in_field_order_with_utc_z() -> None:
    event = UserLink.model_validate(payloads.user_link(occurred_at="2026-10-05T14:00:00+02:00"))

    assert encode(event) == (
        b'{"type":"group","event_id":"ev-2","occurred_at":"2026-10-05T12:00:00Z",'
        b'"user_id":"u-1","account_id":"acme"}'
    )


def test_decode_input_dispatches_on_topic_kind() -> None:
    data = orjson.dumps(payloads.ticket())

    assert decode_input(TopicKind.TICKETS, data) == decode_tickets(data)
    with pytest.raises(ValueError, match="not an input topic"):
        decode_input(TopicKind.HEALTH, data)


def test_billing_decoder_passes_stripe_options() -> None:
    data = orjson.dumps(payloads.stripe_invoice(parent=None))

    event = decode_billing(data, customer_accounts={"cus_9s6": "globex"})

    assert event.account_id == "globex"


BAD_BYTES: list[tuple[bytes, str, str]] = [
    (b"", "<message>", "invalid JSON"),
    (b"{", "<message>", "invalid JSON"),
    (b"\xff\xfe", "<message>", "invalid JSON"),
    (b"[1, 2]", "<message>", "object"),
    (b"null", "<message>", "object"),
    (b"[" * 5000 + b"]" * 5000, "<message>", "invalid JSON"),
    (b'{"event_id": "\\ud800"}', "<message>", "invalid JSON"),
]


@pytest.mark.parametrize(
    "decode", [decode_usage, decode_tickets, decode_billing, decode_feedback, decode_accounts]
)
@pytest.mark.parametrize(("data", "field", "reason"), BAD_BYTES)
def test_malformed_bytes_are_validation_errors(
    decode: Callable[..., PulseModel], data: bytes, field: str, reason: str
) -> None:
    with pytest.raises(PulseValidationError) as caught:
        decode(data)

    assert caught.value.field == field
    assert reason.lower() in caught.value.reason.lower()


def test_oversized_message_is_rejected_before_parsing() -> None:
    data = b"{" + b" " * MAX_MESSAGE_BYTES + b"}"

    with pytest.raises(PulseValidationError) as caught:
        decode_usage(data)

    assert caught.value.field == "<message>"
    assert f"{len(data)} bytes is over the {MAX_MESSAGE_BYTES}-byte limit" in caught.value.reason


def test_size_limit_is_configurable() -> None:
    data = orjson.dumps(payloads.ticket())

    assert decode_tickets(data, max_bytes=len(data)).ticket_id == "T-100"
    with pytest.raises(PulseValidationError, match="over the 10-byte limit"):
        decode_tickets(data, max_bytes=10)


def test_an_integer_beyond_64_bits_is_refused_where_it_is_not_rounded() -> None:
    """orjson reads one as a float that lost digits; the message is refused instead,
    naming the field. Up to 64 bits, and long digit runs inside strings, pass as sent."""
    segment = payloads.segment_track()
    segment["properties"] = {"count": 123456789012345678901234}
    with pytest.raises(PulseValidationError) as caught:
        decode_usage(_json_with_long_integer(segment))
    assert caught.value.field == "properties.count"
    assert "123456789012345678901234 is beyond 64 bits" in caught.value.reason
    segment["properties"] = {"order": 2**63}
    with pytest.raises(PulseValidationError, match="9223372036854775808 is beyond 64 bits"):
        decode_usage(_json_with_long_integer(segment))

    segment["properties"] = {"order": 2**63 - 1, "note": "order 12345678901234567890123"}
    event = decode_usage(orjson.dumps(segment))
    assert isinstance(event, UsageEvent)
    assert event.properties["order"] == 2**63 - 1
    assert event.properties["note"] == "order 12345678901234567890123"

    ticket = payloads.ticket()
    ticket["priority_score"] = -(2**70)
    with pytest.raises(PulseValidationError, match="beyond 64 bits"):
        decode_tickets(_json_with_long_integer(ticket))


def _json_with_long_integer(payload: dict[str, Any]) -> bytes:
    """JSON text of ``payload`` with its integers as they are (orjson refuses to write
    one beyond 64 bits; the standard library writes them)."""
    return json.dumps(payload, default=str).encode()


@pytest.mark.parametrize(("decode", "payload", "model"), DECODERS)
def test_future_events_beyond_the_skew_are_rejected(
    decode: Callable[..., PulseModel], payload: dict[str, Any], model: type[PulseModel]
) -> None:
    event = decode(orjson.dumps(payload))
    occurred_at: datetime = event.occurred_at  # type: ignore[attr-defined]
    data = orjson.dumps(payload)

    assert decode(data, now=occurred_at - timedelta(minutes=5)) == event
    with pytest.raises(PulseValidationError) as caught:
        decode(data, now=occurred_at - timedelta(minutes=6))

    assert caught.value.field == "occurred_at"
    assert "is 0:06:00 ahead of now" in caught.value.reason
    assert "at most 0:05:00 allowed" in caught.value.reason


def test_future_skew_is_configurable_and_past_events_pass() -> None:
    data = orjson.dumps(payloads.survey())

    assert decode_feedback(data, now=NOW - timedelta(hours=1), max_future_skew=timedelta(hours=2))
    assert decode_feedback(data, now=NOW + timedelta(days=365))


def test_validation_errors_from_the_fast_path_name_the_field() -> None:
    with pytest.raises(PulseValidationError) as caught:
        decode_usage(orjson.dumps(payloads.usage(occurred_at="2026-10-05T12:00:00")))

    assert (caught.value.field, caught.value.reason) == (
        "occurred_at",
        "Input should have timezone info",
    )


OUTPUTS: list[tuple[TopicKind, dict[str, Any], type[PulseModel]]] = [
    (TopicKind.CHURN_RISK, payloads.trigger(), Trigger),
    (TopicKind.EXPANSION, payloads.trigger(kind="expansion"), Trigger),
    (TopicKind.ADVOCACY, payloads.trigger(kind="advocacy"), Trigger),
    (TopicKind.HEALTH, payloads.health(), HealthSnapshot),
    (TopicKind.DEAD_LETTER, payloads.dead_letter(), DeadLetter),
]


@pytest.mark.parametrize(("kind", "payload", "model"), OUTPUTS)
def test_decode_output_round_trips(
    kind: TopicKind, payload: dict[str, Any], model: type[PulseModel]
) -> None:
    decoded = decode_output(kind, orjson.dumps(payload))

    assert type(decoded) is model
    assert decode_output(kind, encode(decoded)) == decoded


def test_trigger_on_the_wrong_topic_is_rejected() -> None:
    with pytest.raises(PulseValidationError) as caught:
        decode_output(TopicKind.ADVOCACY, orjson.dumps(payloads.trigger()))

    assert caught.value.field == "kind"
    assert "churn_risk trigger does not belong on the triggers.advocacy topic" in str(caught.value)


def test_decode_output_refuses_input_kinds() -> None:
    with pytest.raises(ValueError, match="not an output topic"):
        decode_output(TopicKind.USAGE, b"{}")


def test_dead_letter_keeps_the_original_bytes_and_bounds_the_message() -> None:
    original = b"\x00\xffnot json"

    letter = dead_letter(
        original,
        b"acme",
        topic="pulse.usage.v1",
        partition=2,
        offset=99,
        error_kind="decode",
        error_message="x" * 10_000,
        received_at=NOW,
    )

    assert (letter.original, letter.original_key) == (original, b"acme")
    assert len(letter.error_message) == MAX_ERROR_MESSAGE_CHARS
    assert decode_output(TopicKind.DEAD_LETTER, encode(letter)) == letter
    assert message_key(letter) == b"acme"


def test_dead_letter_without_key() -> None:
    letter = dead_letter(
        b"{}",
        None,
        topic="pulse.tickets.v1",
        partition=0,
        offset=0,
        error_kind="validation",
        error_message="event_id: Field required",
        received_at=NOW,
    )

    assert letter.original_key_b64 is None
    assert message_key(letter) is None


def test_message_key_is_account_else_user() -> None:
    with_account = UsageEvent.model_validate(payloads.usage())
    user_only = UsageEvent.model_validate(payloads.usage(account_id=None))

    assert message_key(with_account) == b"acme"
    assert message_key(user_only) == b"u-1"
    assert message_key(Trigger.model_validate(payloads.trigger())) == b"acme"


def test_dead_letter_escapes_what_a_hostile_field_name_puts_in_the_reason() -> None:
    """A reason naming a hostile field (a NUL, an escape sequence, a lone surrogate) still
    makes a publishable dead letter; tab and newline are kept."""
    letter = dead_letter(
        b"{}",
        None,
        topic="pulse.tickets.v1",
        partition=0,
        offset=0,
        error_kind="validation",
        error_message="\x00\x1b[2J\ud800\x85: Extra inputs are not permitted\n\tsee docs",
        received_at=NOW,
    )

    assert letter.error_message == (
        "\\x00\\x1b[2J\\ud800\\x85: Extra inputs are not permitted\n\tsee docs"
    )
    assert decode_output(TopicKind.DEAD_LETTER, encode(letter)) == letter


def test_reasons_quoting_hostile_input_are_bounded() -> None:
    """A reason or field path that quotes the input (a huge unknown Stripe event type, a
    huge unknown key) is cut, so an error never carries a large part of the message."""
    stripe = orjson.dumps(payloads.stripe_subscription() | {"type": "c" * 50_000})
    unknown_key = orjson.dumps(payloads.ticket() | {"k" * 50_000: 1})
    for decode, data in ((decode_billing, stripe), (decode_tickets, unknown_key)):
        with pytest.raises(PulseValidationError) as raised:
            decode(data)
        assert len(raised.value.field) <= MAX_FIELD_CHARS
        assert len(raised.value.reason) <= MAX_REASON_CHARS
        assert str(raised.value).count("\u2026") == 1
