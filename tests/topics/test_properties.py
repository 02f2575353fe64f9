"""Properties: valid models survive encode -> decode; no input makes a decoder raise anything
but PulseValidationError."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.topics import payloads, strategies
from topics.catalogue import TopicKind
from topics.codec import (
    decode_accounts,
    decode_billing,
    decode_feedback,
    decode_input,
    decode_output,
    decode_own_input,
    decode_tickets,
    decode_usage,
    encode,
)
from topics.errors import PulseValidationError
from topics.models import PulseModel, Trigger

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = datetime(2026, 10, 5, 12, tzinfo=UTC)

Decoder = Callable[[bytes], PulseModel]


def _output(kind: TopicKind) -> Decoder:
    return lambda data: decode_output(kind, data)


def _trigger_topic(trigger: Trigger) -> TopicKind:
    return {
        "churn_risk": TopicKind.CHURN_RISK,
        "expansion": TopicKind.EXPANSION,
        "advocacy": TopicKind.ADVOCACY,
    }[trigger.kind]


ROUND_TRIPS: list[tuple[st.SearchStrategy[Any], Decoder]] = [
    (strategies.usage_events, decode_usage),
    (strategies.user_links, decode_usage),
    (strategies.ticket_events, decode_tickets),
    (strategies.billing_events, decode_billing),
    (strategies.survey_responses, decode_feedback),
    (strategies.account_profiles, decode_accounts),
    (strategies.health_snapshots, _output(TopicKind.HEALTH)),
    (strategies.dead_letters, _output(TopicKind.DEAD_LETTER)),
]


@pytest.mark.parametrize(("models", "decode"), ROUND_TRIPS)
@FAST
@given(data=st.data())
def test_encode_decode_round_trip(
    models: st.SearchStrategy[Any], decode: Decoder, data: st.DataObject
) -> None:
    model = data.draw(models)

    assert decode(encode(model)) == model


OWN_INPUTS = [
    (strategies.usage_events, TopicKind.USAGE),
    (strategies.user_links, TopicKind.USAGE),
    (strategies.ticket_events, TopicKind.TICKETS),
    (strategies.billing_events, TopicKind.BILLING),
    (strategies.survey_responses, TopicKind.FEEDBACK),
    (strategies.account_profiles, TopicKind.ACCOUNTS),
]


@pytest.mark.parametrize(("models", "kind"), OWN_INPUTS)
@FAST
@given(data=st.data())
def test_own_input_decodes_as_the_topic_decoder_does(
    models: st.SearchStrategy[Any], kind: TopicKind, data: st.DataObject
) -> None:
    """A replay's sorted runs are read back with decode_own_input: the event the topic's
    decoder gives for the same bytes, field for field and type for type (an integer
    stays an integer), and so the same bytes again."""
    model = data.draw(models)
    raw = encode(model)

    own, topic = decode_own_input(raw), decode_input(kind, raw)

    assert own == topic == model
    assert encode(own) == encode(topic) == raw


@FAST
@given(strategies.triggers)
def test_trigger_round_trip(trigger: Trigger) -> None:
    assert decode_output(_trigger_topic(trigger), encode(trigger)) == trigger


DECODERS: list[Decoder] = [
    decode_usage,
    decode_tickets,
    decode_billing,
    decode_feedback,
    decode_accounts,
    lambda data: decode_usage(data, now=NOW),
    lambda data: decode_billing(data, customer_accounts=lambda customer: customer),
    *(_output(kind) for kind in (TopicKind.CHURN_RISK, TopicKind.HEALTH, TopicKind.DEAD_LETTER)),
]
DECODER_IDS = [
    "usage",
    "tickets",
    "billing",
    "feedback",
    "accounts",
    "usage-now",
    "billing-mapped",
    "triggers",
    "health",
    "dead-letter",
]


def _only_validation_errors(decode: Decoder, data: bytes) -> None:
    try:
        decode(data)
    except PulseValidationError as error:
        failure = error
    else:
        return
    assert failure.field
    assert failure.reason


@pytest.mark.parametrize("decode", DECODERS, ids=DECODER_IDS)
@FAST
@given(data=st.binary(max_size=512))
def test_arbitrary_bytes(decode: Decoder, data: bytes) -> None:
    _only_validation_errors(decode, data)


@pytest.mark.parametrize("decode", DECODERS, ids=DECODER_IDS)
@FAST
@given(value=strategies.json_values)
def test_arbitrary_json(decode: Decoder, value: Any) -> None:
    _only_validation_errors(decode, json.dumps(value).encode())


SHAPES = [
    payloads.usage(),
    payloads.user_link(),
    payloads.ticket(action="rated", csat=3),
    payloads.billing(),
    payloads.survey(),
    payloads.account(),
    payloads.segment_track(),
    payloads.segment_group(),
    payloads.segment_track(type="identify", traits={"company": {"id": "acme"}}),
    payloads.stripe_subscription(),
    payloads.stripe_invoice(),
    payloads.trigger(),
    payloads.health(),
    payloads.dead_letter(),
]


def _replace_somewhere(shape: Any, path: list[int], value: Any) -> Any:
    """`shape` with one nested value (chosen by `path`) replaced by `value`."""
    if not path or not isinstance(shape, dict | list) or not shape:
        return value
    keys = list(shape) if isinstance(shape, dict) else list(range(len(shape)))
    key = keys[path[0] % len(keys)]
    copy = dict(shape) if isinstance(shape, dict) else list(shape)
    copy[key] = _replace_somewhere(shape[key], path[1:], value)  # type: ignore[index]
    return copy


@pytest.mark.parametrize("decode", DECODERS, ids=DECODER_IDS)
@FAST
@given(
    shape=st.sampled_from(SHAPES),
    path=st.lists(st.integers(0, 50), max_size=5),
    value=strategies.json_values,
)
def test_almost_valid_json(decode: Decoder, shape: Any, path: list[int], value: Any) -> None:
    _only_validation_errors(decode, json.dumps(_replace_somewhere(shape, path, value)).encode())


@pytest.mark.parametrize("decode", DECODERS, ids=DECODER_IDS)
@settings(max_examples=25, deadline=None)
@given(
    shape=st.sampled_from(SHAPES),
    path=st.lists(st.integers(0, 50), max_size=4),
    nesting=st.tuples(st.sampled_from([("[", "]"), ('{"a":', "}")]), st.integers(0, 3000)),
    padding=st.integers(0, 1_200_000),
)
def test_deep_and_huge_json(
    decode: Decoder, shape: Any, path: list[int], nesting: tuple[tuple[str, str], int], padding: int
) -> None:
    """Nesting past every parser's limit, and messages past the size limit, fail cleanly."""
    (opener, closer), depth = nesting
    nested = opener * depth + "1" + closer * depth
    document = json.dumps(_replace_somewhere(shape, path, "__nested__"))
    data = document.replace('"__nested__"', nested, 1) + " " * padding
    _only_validation_errors(decode, data.encode())
