"""The exception root for Pulse and the one error every bad input becomes.

Consumers of `topics` catch `PulseValidationError` and dead-letter the message,
and catch `PulseIgnored` and count it; anything else escaping a decoder is a
bug, not bad data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

__all__ = [
    "MAX_FIELD_CHARS",
    "MAX_REASON_CHARS",
    "MESSAGE_FIELD",
    "PulseError",
    "PulseIgnored",
    "PulseValidationError",
]

MESSAGE_FIELD = "<message>"
"""Field name used when the problem is the message as a whole (size, JSON, shape)."""
MAX_FIELD_CHARS = 256
MAX_REASON_CHARS = 1024
"""Field paths and reasons can quote the input (a hostile key, an unknown event type):
they are cut to these lengths so that an error never carries a large part of it."""


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


class PulseError(Exception):
    """Root of every exception Pulse raises on purpose."""


class PulseIgnored(PulseError):
    """A well-formed input Pulse deliberately does not use (an event type it has no
    signal for, a Stripe test-mode event): counted by `kind`, never dead-lettered."""

    def __init__(self, kind: str, reason: str) -> None:
        kind = _bounded(kind, MAX_FIELD_CHARS)
        reason = _bounded(reason, MAX_REASON_CHARS)
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.kind, self.reason))


class PulseValidationError(PulseError):
    """An input (message, vendor payload or setting) that Pulse cannot accept.

    `field` is a dotted path into the input ("properties.plan", "<message>"),
    `reason` says why in words (both cut to a bounded length); `errors` keeps every
    pydantic error when there were several, without their (possibly huge) input values.
    """

    def __init__(self, field: str, reason: str, errors: Sequence[ErrorDetails] = ()) -> None:
        field = _bounded(field, MAX_FIELD_CHARS)
        reason = _bounded(reason, MAX_REASON_CHARS)
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.errors: tuple[ErrorDetails, ...] = tuple(errors)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.field, self.reason, self.errors))

    @classmethod
    def from_pydantic(
        cls, exc: ValidationError, renames: Mapping[str, str] | None = None
    ) -> PulseValidationError:
        """Wrap a pydantic error, naming the first failing field.

        `renames` maps a top-level field of our model to where it came from in a
        vendor payload (e.g. "event_id" -> "messageId"), so producers are told
        about the field they actually sent.
        """
        errors = exc.errors(include_url=False, include_input=False)
        first = errors[0]
        loc = [str(part) for part in first["loc"]]
        if loc and renames and loc[0] in renames:
            loc[0] = renames[loc[0]]
        return cls(".".join(loc) or MESSAGE_FIELD, first["msg"], errors)
