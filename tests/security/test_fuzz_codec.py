"""Hostile input against the decoders alone: `decode_input` never raises anything but
PulseValidationError, its reasons are short and name a field, whatever it accepts
re-encodes to itself, and a message over the size limit is refused before any parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signals.config import SignalsConfig
from signals.core import SignalProcessor
from signals.rules import default_rules
from signals.state import AccountState
from tests.security.hostile import FUZZ_COUNTS, LONG, hostile_messages
from tests.topics import payloads
from topics import codec
from topics.catalogue import INPUT_KINDS, TopicKind, topic_name
from topics.codec import (
    MAX_ERROR_MESSAGE_CHARS,
    dead_letter,
    decode_input,
    decode_output,
    encode,
)
from topics.errors import PulseValidationError
from topics.models import UserLink

MAX_BYTES = 16 * 1024
NOW = datetime.fromisoformat(payloads.T0)
EXAMPLES = 5000 if LONG else 300

nows = st.one_of(
    st.none(),
    st.just(NOW),
    st.datetimes(
        min_value=datetime(1970, 1, 1),  # noqa: DTZ001 - hypothesis attaches the zone
        max_value=datetime(2100, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
)
skews = st.sampled_from([timedelta(0), timedelta(minutes=5), timedelta(days=3650)])


def check_decoder(kind: TopicKind, value: bytes, now: datetime | None, skew: timedelta) -> str:
    """Decode as the worker does; return "valid" or "invalid", failing on anything else."""
    try:
        model = decode_input(kind, value, max_bytes=MAX_BYTES, now=now, max_future_skew=skew)
    except PulseValidationError as error:
        failure = error
    else:
        failure = None
    if failure is not None:
        assert failure.field
        assert failure.reason
        assert len(str(failure)) <= MAX_ERROR_MESSAGE_CHARS, str(failure)[:200]
        # ... and the worker can always publish the dead letter it makes of it.
        letter = dead_letter(
            value,
            None,
            topic=topic_name(kind),
            partition=0,
            offset=0,
            error_kind="validation",
            error_message=str(failure),
            received_at=NOW,
        )
        assert decode_output(TopicKind.DEAD_LETTER, encode(letter), max_bytes=2**22)
        return "invalid"
    again = decode_input(
        kind, encode(model), max_bytes=4 * MAX_BYTES, now=now, max_future_skew=skew
    )
    # Fields: a group call's account traits (UserLink.account_traits) travel as a profile
    # of their own, not inside the link's Pulse shape.
    assert again.model_dump() == model.model_dump()
    return "valid"


@pytest.mark.parametrize("kind", INPUT_KINDS, ids=lambda kind: kind.value)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_decode_input_only_ever_raises_validation_errors(
    kind: TopicKind, data: st.DataObject
) -> None:
    _, value = data.draw(hostile_messages(kind, MAX_BYTES), label="message")
    now = data.draw(nows, label="now")
    skew = data.draw(skews, label="max_future_skew")
    check_decoder(kind, value, now, skew)
    FUZZ_COUNTS["decoders (hypothesis, hostile shapes)"] += 1


@pytest.mark.parametrize("kind", INPUT_KINDS, ids=lambda kind: kind.value)
@settings(max_examples=EXAMPLES // 3, deadline=None)
@given(value=st.binary(max_size=2048))
def test_decode_input_on_arbitrary_bytes(kind: TopicKind, value: bytes) -> None:
    assert check_decoder(kind, value, NOW, timedelta(minutes=5)) == "invalid"
    FUZZ_COUNTS["decoders (hypothesis, arbitrary bytes)"] += 1


@pytest.mark.parametrize("kind", INPUT_KINDS, ids=lambda kind: kind.value)
def test_oversized_messages_are_refused_before_parsing(
    kind: TopicKind, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_parsing(*args: object, **kwargs: object) -> None:
        raise AssertionError("an oversized message reached a parser")

    monkeypatch.setattr(codec.orjson, "loads", no_parsing)
    monkeypatch.setattr(codec, "_validate_json", no_parsing)
    monkeypatch.setattr(codec, "_validate", no_parsing)
    for size in (MAX_BYTES + 1, 50 * MAX_BYTES):
        value = b"{" + b" " * (size - 2) + b"}"
        with pytest.raises(PulseValidationError) as refused:
            decode_input(kind, value, max_bytes=MAX_BYTES)
        assert refused.value.field == "<message>"
        assert refused.value.reason == f"{size} bytes is over the {MAX_BYTES}-byte limit"


_PROCESSOR = SignalProcessor(SignalsConfig(), default_rules())


@pytest.mark.parametrize("kind", INPUT_KINDS, ids=lambda kind: kind.value)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_the_core_takes_whatever_the_decoder_accepts(kind: TopicKind, data: st.DataObject) -> None:
    """A hostile message the decoder lets through (odd ids, huge amounts, extreme but legal
    times) must not crash the signals core: applied, then ticked a day and a quarter on."""
    _, value = data.draw(hostile_messages(kind, MAX_BYTES), label="message")
    try:
        event = decode_input(kind, value, max_bytes=MAX_BYTES)
    except PulseValidationError:
        return
    if isinstance(event, UserLink) or event.account_id is None:
        return  # resolved to an account first (tests/security/test_fuzz_worker.py)
    state = AccountState(event.account_id)
    outcome = _PROCESSOR.apply(state, event, event.occurred_at)
    for trigger in outcome.triggers:
        encode(trigger)
    for later in (timedelta(days=1), timedelta(days=91)):
        _PROCESSOR.tick(state, event.occurred_at + later)
    FUZZ_COUNTS["signals core (events the decoder accepted)"] += 1
