"""Building blocks shared by every Pulse model: the base config and field types.

Bounds live in the types so that one oversized or malformed field is rejected
at the edge, before it reaches per-account state.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "EARLIEST_EVENT_TIME",
    "INT64_MAX",
    "LATEST_EVENT_TIME",
    "MAX_PROPERTIES",
    "MAX_PROPERTY_KEY_CHARS",
    "MAX_PROPERTY_VALUE_CHARS",
    "Count",
    "EventTime",
    "Id",
    "Int64",
    "Label",
    "Line",
    "NonNegative",
    "Properties",
    "PropertyValue",
    "PulseModel",
    "Text",
    "UtcDatetime",
]

INT64_MAX = 2**63 - 1
MAX_PROPERTIES = 64
MAX_PROPERTY_KEY_CHARS = 128
MAX_PROPERTY_VALUE_CHARS = 1024

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_EXCEPT_LAYOUT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class PulseModel(BaseModel):
    """Immutable, closed-world message: unknown fields are an error, not ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def _no_control(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _no_control_except_layout(value: str) -> str:
    if _CONTROL_EXCEPT_LAYOUT.search(value):
        raise ValueError("must not contain control characters other than tab and newline")
    return value


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None


Id = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_control),
]
"""An identifier (account, user, event, ticket...): 1..200 chars, stripped, single line."""

Label = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
    AfterValidator(_no_control),
]
"""A short human name: an event name, a plan, a metric."""

Line = Annotated[str, StringConstraints(max_length=1024), AfterValidator(_no_control)]
"""One line of text for a person to read (may be empty)."""

Text = Annotated[str, StringConstraints(max_length=4096), AfterValidator(_no_control_except_layout)]
"""Free text such as a survey comment: multi-line, bounded."""

UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware instant, stored in UTC; naive datetimes are rejected."""

EARLIEST_EVENT_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_EVENT_TIME = datetime(2100, 1, 1, tzinfo=UTC)


def _plausible_event_time(value: datetime) -> datetime:
    if not EARLIEST_EVENT_TIME <= value < LATEST_EVENT_TIME:
        msg = f"must be from {EARLIEST_EVENT_TIME:%Y-%m-%d} up to {LATEST_EVENT_TIME:%Y-%m-%d}"
        raise ValueError(msg)
    return value


EventTime = Annotated[UtcDatetime, AfterValidator(_plausible_event_time)]
"""When an input event happened: a UtcDatetime from 1970 (the state clock's epoch) up to
2100. Outside that range it is garbage, and near the ends of what datetime can hold the
engine's window arithmetic would overflow."""

Int64 = Annotated[int, Field(ge=-(2**63), le=INT64_MAX)]
"""An integer JSON and Kafka tooling can carry without loss."""

Count = Annotated[int, Field(ge=0, le=INT64_MAX)]
NonNegative = Annotated[float, Field(ge=0)]

PropertyString = Annotated[str, StringConstraints(max_length=MAX_PROPERTY_VALUE_CHARS)]
PropertyValue = PropertyString | Int64 | float | bool | None


def _explain_property_errors(
    value: object, handler: ValidatorFunctionWrapHandler
) -> dict[str, PropertyValue]:
    """Replace pydantic's per-union-member errors with one reason naming the property."""
    try:
        result: dict[str, PropertyValue] = handler(value)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = first["loc"]
        if first["type"] == "too_long" or not loc:
            raise
        key = loc[0]
        if len(loc) == 1 or loc[1] == "[key]":
            raise PydanticCustomError(
                "property_key",
                "key {key} must be 1..{max} characters",
                {"key": repr(str(key)[:40]), "max": MAX_PROPERTY_KEY_CHARS},
            ) from None
        raise PydanticCustomError(
            "property_value",
            "{key} must be a string of at most {max} characters, a 64-bit integer, "
            "a finite number, a boolean or null",
            {"key": repr(str(key)[:40]), "max": MAX_PROPERTY_VALUE_CHARS},
        ) from None
    return result


Properties = Annotated[
    dict[
        Annotated[str, StringConstraints(min_length=1, max_length=MAX_PROPERTY_KEY_CHARS)],
        PropertyValue,
    ],
    Field(max_length=MAX_PROPERTIES),
    WrapValidator(_explain_property_errors),
]
"""Flat event properties: at most 64 keys of <= 128 chars, strings <= 1024 chars."""


def component_score(score: float, info: ValidationInfo) -> float:
    """A validator: an override of one component is a fraction (0..1), of the whole 0..100."""
    if info.data.get("component") is not None and score > 1:
        raise ValueError("must be between 0 and 1 for a component override")
    return score


def after_occurred(moment: datetime, info: ValidationInfo) -> datetime:
    """A validator: a command's deadline must come after the command (else it never holds)."""
    given = info.data.get("occurred_at")
    if given is not None and moment <= given:
        raise ValueError("must be after occurred_at: it would never hold")
    return moment
