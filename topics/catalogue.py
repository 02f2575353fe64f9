"""The topic catalogue: every Pulse topic's name, Kafka settings, key and payload models.

The engine creates topics from this list and compares live topic configs with
it, so names and retention are decided here once, not in deployment scripts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from topics.errors import PulseValidationError
from topics.models import (
    COMMAND_TYPES,
    AccountProfile,
    BillingEvent,
    Cancellation,
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
from topics.naming import check_topic_name

__all__ = [
    "DEAD_LETTER_MAX_MESSAGE_BYTES",
    "DEFAULT_PARTITIONS",
    "DEFAULT_PREFIX",
    "INPUT_KINDS",
    "OUTPUT_KINDS",
    "TopicKind",
    "TopicSpec",
    "catalogue",
    "topic_name",
    "topic_spec",
]

DEFAULT_PREFIX = "pulse"
DEFAULT_PARTITIONS = 6
_DAY_MS = 24 * 60 * 60 * 1000
_INPUT_RETENTION_MS = 14 * _DAY_MS
_OUTPUT_RETENTION_MS = 30 * _DAY_MS
_FOREVER = -1

DEAD_LETTER_MAX_MESSAGE_BYTES = 2 * 1024 * 1024
"""Room for a base64-encoded 1 MiB original plus its envelope (base64 grows data by 4/3)."""


class TopicKind(StrEnum):
    """What a topic carries; the value is the middle part of its name."""

    USAGE = "usage"
    TICKETS = "tickets"
    BILLING = "billing"
    FEEDBACK = "feedback"
    ACCOUNTS = "accounts"
    COMMANDS = "commands"
    CHURN_RISK = "triggers.churn-risk"
    EXPANSION = "triggers.expansion"
    ADVOCACY = "triggers.advocacy"
    HEALTH = "health"
    OUTCOMES = "outcomes"
    DEAD_LETTER = "dead-letter"


INPUT_KINDS = (
    TopicKind.USAGE,
    TopicKind.TICKETS,
    TopicKind.BILLING,
    TopicKind.FEEDBACK,
    TopicKind.ACCOUNTS,
    TopicKind.COMMANDS,
)
OUTPUT_KINDS = (
    TopicKind.CHURN_RISK,
    TopicKind.EXPANSION,
    TopicKind.ADVOCACY,
    TopicKind.HEALTH,
    TopicKind.OUTCOMES,
    TopicKind.DEAD_LETTER,
)

_VERSION = 1
_ACCOUNT_KEY = "account_id (UTF-8)"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic as the engine should create it and as consumers should read it."""

    kind: TopicKind
    name: str
    partitions: int
    retention_ms: int
    cleanup_policy: Literal["delete", "compact"]
    key: str
    value_models: tuple[type[PulseModel], ...]
    max_message_bytes: int | None = None

    @property
    def config(self) -> dict[str, str]:
        """Kafka topic configs, as strings the admin API accepts and describe_configs returns."""
        config = {"cleanup.policy": self.cleanup_policy, "retention.ms": str(self.retention_ms)}
        if self.max_message_bytes is not None:
            config["max.message.bytes"] = str(self.max_message_bytes)
        return config


@dataclass(frozen=True, slots=True)
class _Layout:
    retention_ms: int
    cleanup_policy: Literal["delete", "compact"]
    key: str
    value_models: tuple[type[PulseModel], ...]
    max_message_bytes: int | None = None


_LAYOUTS: dict[TopicKind, _Layout] = {
    TopicKind.USAGE: _Layout(
        _INPUT_RETENTION_MS,
        "delete",
        "account_id (UTF-8); user_id for a user-only UsageEvent",
        (UsageEvent, UserLink, UserAlias),
    ),
    TopicKind.TICKETS: _Layout(_INPUT_RETENTION_MS, "delete", _ACCOUNT_KEY, (TicketEvent,)),
    TopicKind.BILLING: _Layout(_INPUT_RETENTION_MS, "delete", _ACCOUNT_KEY, (BillingEvent,)),
    TopicKind.FEEDBACK: _Layout(_INPUT_RETENTION_MS, "delete", _ACCOUNT_KEY, (SurveyResponse,)),
    TopicKind.ACCOUNTS: _Layout(_FOREVER, "compact", _ACCOUNT_KEY, (AccountProfile,)),
    TopicKind.COMMANDS: _Layout(_INPUT_RETENTION_MS, "delete", _ACCOUNT_KEY, COMMAND_TYPES),
    TopicKind.CHURN_RISK: _Layout(_OUTPUT_RETENTION_MS, "delete", _ACCOUNT_KEY, (Trigger,)),
    TopicKind.EXPANSION: _Layout(_OUTPUT_RETENTION_MS, "delete", _ACCOUNT_KEY, (Trigger,)),
    TopicKind.ADVOCACY: _Layout(_OUTPUT_RETENTION_MS, "delete", _ACCOUNT_KEY, (Trigger,)),
    TopicKind.HEALTH: _Layout(_FOREVER, "compact", _ACCOUNT_KEY, (HealthSnapshot,)),
    # Kept for good, not compacted: each cancellation is history to learn from, and an
    # account that comes back and leaves again has two.
    TopicKind.OUTCOMES: _Layout(_FOREVER, "delete", _ACCOUNT_KEY, (Cancellation,)),
    TopicKind.DEAD_LETTER: _Layout(
        _OUTPUT_RETENTION_MS,
        "delete",
        "the original message's key, unchanged (the account_id when the producer set it)",
        (DeadLetter,),
        DEAD_LETTER_MAX_MESSAGE_BYTES,
    ),
}


def topic_name(kind: TopicKind, prefix: str = DEFAULT_PREFIX) -> str:
    """The versioned topic name, e.g. `pulse.triggers.churn-risk.v1`."""
    if not prefix:
        raise PulseValidationError("prefix", "must not be empty")
    name = f"{prefix}.{kind.value}.v{_VERSION}"
    try:
        return check_topic_name(name)
    except ValueError as exc:
        reason = f"{prefix!r} gives topic name {name!r}, which {exc}"
        raise PulseValidationError("prefix", reason) from None


def topic_spec(
    kind: TopicKind, prefix: str = DEFAULT_PREFIX, partitions: int = DEFAULT_PARTITIONS
) -> TopicSpec:
    """The full spec of one topic."""
    if partitions < 1:
        raise PulseValidationError("partitions", f"must be at least 1, got {partitions}")
    layout = _LAYOUTS[kind]
    return TopicSpec(
        kind=kind,
        name=topic_name(kind, prefix),
        partitions=partitions,
        retention_ms=layout.retention_ms,
        cleanup_policy=layout.cleanup_policy,
        key=layout.key,
        value_models=layout.value_models,
        max_message_bytes=layout.max_message_bytes,
    )


def catalogue(
    prefix: str = DEFAULT_PREFIX, partitions: int = DEFAULT_PARTITIONS
) -> list[TopicSpec]:
    """Every Pulse topic, inputs first; one partition count for all keeps them co-partitioned."""
    return [topic_spec(kind, prefix, partitions) for kind in TopicKind]
