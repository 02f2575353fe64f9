"""Bytes <-> models for every Pulse topic: the one place messages are parsed.

Every decoder takes the raw Kafka value and returns a model or raises
PulseValidationError (never anything else), so a consumer can dead-letter bad
input with a single `except`. Size is checked before parsing; JSON nesting is
bounded by the parsers (orjson: 1024 levels, pydantic: 200) and our models
are flat, so a hostile message cannot exhaust the stack. Time is passed in
(`now`), never read here.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar, cast

import orjson
import pydantic_core
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from topics.adapters.segment import from_segment, is_segment
from topics.adapters.stripe import AccountResolver, from_stripe, is_stripe
from topics.catalogue import TopicKind
from topics.errors import MESSAGE_FIELD, PulseValidationError
from topics.models import (
    COMMANDS_BY_TYPE,
    AccountProfile,
    BillingEvent,
    Cancellation,
    Command,
    DeadLetter,
    HealthSnapshot,
    InputEvent,
    OutputEvent,
    PulseModel,
    SurveyResponse,
    TicketEvent,
    Trigger,
    UsageEvent,
    UserAlias,
    UserLink,
)

__all__ = [
    "DEFAULT_MAX_FUTURE_SKEW",
    "MAX_ERROR_MESSAGE_CHARS",
    "MAX_MESSAGE_BYTES",
    "dead_letter",
    "decode_accounts",
    "decode_billing",
    "decode_commands",
    "decode_feedback",
    "decode_input",
    "decode_output",
    "decode_own_input",
    "decode_tickets",
    "decode_usage",
    "encode",
    "encode_key",
    "message_key",
]

MAX_MESSAGE_BYTES = 1024 * 1024
DEFAULT_MAX_FUTURE_SKEW = timedelta(minutes=5)
MAX_ERROR_MESSAGE_CHARS = 4096

Raw = bytes | bytearray
M = TypeVar("M", bound=BaseModel)
E = TypeVar("E", bound=InputEvent)


def encode(model: PulseModel) -> bytes:
    """Compact JSON in field order, datetimes as ISO 8601 with "Z"."""
    try:
        return orjson.dumps(model.model_dump(), option=orjson.OPT_UTC_Z)
    except orjson.JSONEncodeError as exc:
        raise PulseValidationError(MESSAGE_FIELD, f"cannot be encoded as JSON: {exc}") from None


def encode_key(account_id: str) -> bytes:
    """The Kafka key for an account: its id in UTF-8."""
    return account_id.encode()


def message_key(model: PulseModel) -> bytes | None:
    """The key a model is published under (see the catalogue): its account, else its user."""
    if isinstance(model, DeadLetter):
        return model.original_key
    account_id = getattr(model, "account_id", None) or getattr(model, "user_id", None)
    return None if account_id is None else encode_key(account_id)


def decode_usage(
    data: Raw,
    *,
    max_bytes: int = MAX_MESSAGE_BYTES,
    now: datetime | None = None,
    max_future_skew: timedelta = DEFAULT_MAX_FUTURE_SKEW,
) -> UsageEvent | UserLink | UserAlias:
    """A usage message: our own UsageEvent/UserLink/UserAlias, or a Segment/RudderStack call."""
    message = _parse_object(data, max_bytes)
    event: UsageEvent | UserLink | UserAlias
    if is_segment(message):
        event = from_segment(message)
    elif message.get("type") == "group":
        event = _validate(UserLink, message)
    elif message.get("type") == "alias":
        event = _validate(UserAlias, message)
    else:
        event = _validate(UsageEvent, message)
    return _not_from_future(event, now, max_future_skew)


def decode_tickets(
    data: Raw,
    *,
    max_bytes: int = MAX_MESSAGE_BYTES,
    now: datetime | None = None,
    max_future_skew: timedelta = DEFAULT_MAX_FUTURE_SKEW,
) -> TicketEvent:
    """A support ticket event in our own shape."""
    return _decode_own(TicketEvent, data, max_bytes, now, max_future_skew)


def decode_billing(
    data: Raw,
    *,
    max_bytes: int = MAX_MESSAGE_BYTES,
    now: datetime | None = None,
    max_future_skew: timedelta = DEFAULT_MAX_FUTURE_SKEW,
    customer_accounts: AccountResolver | None = None,
    stripe_account_field: str = "account_id",
    stripe_accept_test_mode: bool = True,
) -> BillingEvent:
    """A billing message: our own BillingEvent or a Stripe event (see topics.adapters.stripe);
    PulseIgnored for a Stripe type Pulse does not use."""
    message = _parse_object(data, max_bytes)
    if is_stripe(message):
        event = from_stripe(
            message,
            customer_accounts=customer_accounts,
            account_field=stripe_account_field,
            accept_test_mode=stripe_accept_test_mode,
        )
    else:
        event = _validate(BillingEvent, message)
    return _not_from_future(event, now, max_future_skew)


def decode_feedback(
    data: Raw,
    *,
    max_bytes: int = MAX_MESSAGE_BYTES,
    now: datetime | None = None,
    max_future_skew: timedelta = DEFAULT_MAX_FUTURE_SKEW,
) -> SurveyResponse:
    """An NPS survey response in our own shape."""
    return _decode_own(SurveyResponse, data, max_bytes, now, max_future_skew)


def decode_accounts(
    data: Raw,
    *,
    max_bytes: int = MAX_MESSAGE_BYTES,
    now: datetime | None = None,
    max_future_skew: timedelta = DEFAULT_MAX_FUTURE_SKEW,
) -> AccountProfile:
    """An account profile in our own shape."""
    return _decode_own(AccountProfile, data, max_bytes, now, max_future_skew)


def decode_commands(
    data: Raw,
    *,
    max_bytes: int = MAX_MESSAGE_BYTES,
    now: datetime | None = None,
    max_future_skew: timedelta = DEFAULT_MAX_FUTURE_SKEW,
) -> Command:
    """A command (topics.models.commands), told apart by its ``type``."""
    message = _parse_object(data, max_bytes)
    kind = message.get("type")
    model = COMMANDS_BY_TYPE.get(kind) if isinstance(kind, str) else None
    if model is None:
        known = ", ".join(sorted(COMMANDS_BY_TYPE))
        raise PulseValidationError("type", f"must be one of {known}, got {kind!r}")
    command = cast(Command, _validate(model, message))
    return _not_from_future(command, now, max_future_skew)


_INPUT_DECODERS: dict[TopicKind, Callable[..., InputEvent]] = {
    TopicKind.USAGE: decode_usage,
    TopicKind.TICKETS: decode_tickets,
    TopicKind.BILLING: decode_billing,
    TopicKind.FEEDBACK: decode_feedback,
    TopicKind.ACCOUNTS: decode_accounts,
    TopicKind.COMMANDS: decode_commands,
}


def decode_input(
    kind: TopicKind,
    data: Raw,
    *,
    max_bytes: int = MAX_MESSAGE_BYTES,
    now: datetime | None = None,
    max_future_skew: timedelta = DEFAULT_MAX_FUTURE_SKEW,
    stripe: Mapping[str, Any] | None = None,
) -> InputEvent:
    """Decode a message from the input topic `kind`; `stripe`: decode_billing's Stripe options."""
    decoder = _INPUT_DECODERS.get(kind)
    if decoder is None:
        msg = f"{kind!r} is not an input topic"
        raise ValueError(msg)
    options = dict(stripe or {}) if kind is TopicKind.BILLING else {}
    return decoder(data, max_bytes=max_bytes, now=now, max_future_skew=max_future_skew, **options)


INPUT_EVENTS: TypeAdapter[InputEvent] = TypeAdapter(
    Annotated[InputEvent, Field(discriminator="type")]
)
"""Every input event in Pulse's own shape, told apart by its ``type``."""


def decode_own_input(data: Raw) -> InputEvent:
    """An input event that Pulse itself wrote with ``encode`` after ``decode_input``
    checked it (a replay's sorted runs): validated as its own model in one pass, with
    no producer shapes, size or time checks to repeat. Not for anything a producer sent.
    """
    try:
        return INPUT_EVENTS.validate_json(data)
    except ValidationError as exc:
        raise PulseValidationError.from_pydantic(exc) from None


_TRIGGER_KINDS = {
    TopicKind.CHURN_RISK: "churn_risk",
    TopicKind.EXPANSION: "expansion",
    TopicKind.ADVOCACY: "advocacy",
}


def decode_output(kind: TopicKind, data: Raw, *, max_bytes: int = MAX_MESSAGE_BYTES) -> OutputEvent:
    """Decode a message from an output topic; a trigger must be of the topic's kind."""
    _check_size(data, max_bytes)
    if kind in _TRIGGER_KINDS:
        trigger = _validate_json(Trigger, data)
        if trigger.kind != _TRIGGER_KINDS[kind]:
            reason = f"a {trigger.kind} trigger does not belong on the {kind.value} topic"
            raise PulseValidationError("kind", reason)
        return trigger
    if kind is TopicKind.HEALTH:
        return _validate_json(HealthSnapshot, data)
    if kind is TopicKind.DEAD_LETTER:
        return _validate_json(DeadLetter, data)
    if kind is TopicKind.OUTCOMES:
        return _validate_json(Cancellation, data)
    msg = f"{kind!r} is not an output topic"
    raise ValueError(msg)


def dead_letter(
    original: bytes,
    key: bytes | None,
    *,
    topic: str,
    partition: int,
    offset: int,
    error_kind: str,
    error_message: str,
    received_at: datetime,
    keep_bytes: int | None = None,
) -> DeadLetter:
    """Wrap an unusable message with where it came from and why; the message is kept intact.

    The error message is made printable (control characters and lone surrogates, which
    a hostile message can put into a field name, are escaped) and cut to a bounded
    length, so that a pathological reason cannot make the dead letter itself
    unpublishable. With ``keep_bytes``, a longer original is cut to that many bytes
    (``original_truncated``; its source topic, partition and offset still point at it
    whole), so that a message far over the size limit cannot make a dead letter too
    big to publish.
    """
    error_message = _UNPRINTABLE.sub(_escape, error_message)
    if len(error_message) > MAX_ERROR_MESSAGE_CHARS:
        error_message = error_message[: MAX_ERROR_MESSAGE_CHARS - 1] + "…"
    truncated = keep_bytes is not None and len(original) > keep_bytes
    if truncated:
        original = original[:keep_bytes]
    return DeadLetter(
        original_b64=base64.b64encode(original).decode("ascii"),
        original_truncated=truncated,
        original_key_b64=None if key is None else base64.b64encode(key).decode("ascii"),
        source_topic=topic,
        partition=partition,
        offset=offset,
        error_kind=error_kind,
        error_message=error_message,
        received_at=received_at,
    )


_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
"""What a DeadLetter's error message may not carry (tab and newline it may)."""


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _decode_own(
    model: type[E], data: Raw, max_bytes: int, now: datetime | None, max_future_skew: timedelta
) -> E:
    _check_size(data, max_bytes)
    return _not_from_future(_validate_json(model, data), now, max_future_skew)


def _check_size(data: Raw, max_bytes: int) -> None:
    if len(data) > max_bytes:
        reason = f"{len(data)} bytes is over the {max_bytes}-byte limit"
        raise PulseValidationError(MESSAGE_FIELD, reason)
    _refuse_long_integers(data)


_LONG_DIGITS = re.compile(rb"\d{19}")
"""A run of 19 digits: where an integer beyond 64 bits may be (2**63 has 19)."""
_INT_RANGE = range(-(2**63), 2**63)
"""Signed 64-bit integers: what is kept exactly; beyond, orjson or the models' number
fields make a float that silently lost digits."""


def _refuse_long_integers(data: Raw) -> None:
    """Refuse a JSON integer beyond a signed 64-bit one, naming where it is.

    orjson parses one as a float without a word (``"count": 12345678901234567890123``
    became 1.2345678901234569e+22: a count and an id that are not what was sent). A
    cheap scan for 19 digits in a row finds the few messages that may hold one; only
    those are parsed again, exactly, to look.
    """
    if _LONG_DIGITS.search(data) is None:
        return
    try:
        value = pydantic_core.from_json(bytes(data))
    except ValueError:
        return  # not JSON: the parser that follows says so
    found = _long_integer(value, "")
    if found is not None:
        where, number = found
        reason = (
            f"integer {number} is beyond 64 bits (signed) and would lose digits; send it as a "
            "string (an id) or as a smaller number"
        )
        raise PulseValidationError(where or MESSAGE_FIELD, reason)


def _long_integer(value: Any, path: str) -> tuple[str, int] | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return None if value in _INT_RANGE else (path, value)
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _long_integer(item, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def _parse_object(data: Raw, max_bytes: int) -> dict[str, Any]:
    """Parse a topic that may carry vendor shapes: the shape is told from the parsed object."""
    _check_size(data, max_bytes)
    try:
        message = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise PulseValidationError(MESSAGE_FIELD, f"invalid JSON: {exc}") from None
    if not isinstance(message, dict):
        reason = f"expected a JSON object, got {type(message).__name__}"
        raise PulseValidationError(MESSAGE_FIELD, reason)
    return message


def _validate_json(model: type[M], data: Raw) -> M:
    """Parse and validate in one pass, for topics that carry only our own shape."""
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        raise PulseValidationError.from_pydantic(exc) from None


def _validate(model: type[M], message: dict[str, Any]) -> M:
    try:
        return model.model_validate(message)
    except ValidationError as exc:
        raise PulseValidationError.from_pydantic(exc) from None


def _not_from_future(event: E, now: datetime | None, max_future_skew: timedelta) -> E:
    """Reject events stamped further ahead of `now` than clocks plausibly drift."""
    if now is None:
        return event
    ahead = event.occurred_at - now
    if ahead > max_future_skew:
        reason = f"is {ahead} ahead of now ({now.isoformat()}); at most {max_future_skew} allowed"
        raise PulseValidationError("occurred_at", reason)
    return event
