"""The one exception root of ``signals`` and the non-exceptional rejection result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RejectionKind = Literal[
    "late",
    "duplicate",
    "unresolved_user",
    "unresolved_customer",
    "invalid_quantity",
    "invalid_command",
]


class SignalsError(Exception):
    """Root of every error raised by the signals core."""


class ConfigError(SignalsError):
    """A configuration value is invalid; ``setting`` is its dotted path."""

    def __init__(self, setting: str, reason: str) -> None:
        super().__init__(f"{setting}: {reason}")
        self.setting = setting
        self.reason = reason


class RuleFileError(SignalsError):
    """A rules file is invalid; the message names the source, line and reason."""

    def __init__(self, source: str, line: int | None, reason: str) -> None:
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {reason}")
        self.source = source
        self.line = line
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an event changed nothing; the engine dead-letters every kind but ``duplicate``."""

    kind: RejectionKind
    event_id: str
    message: str
    source: str | None = None
    """For a held command refused on release: where its message entered, as the engine
    said when it arrived (opaque to the core), so it can still be dead-lettered."""
    original_b64: str | None = None
    """That message's bytes (base64), likewise."""
