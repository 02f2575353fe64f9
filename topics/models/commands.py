"""Commands: what CSMs and the CS platform tell Pulse about an account, on the commands topic.

A command is keyed and ordered like an account's events, and applied to the same state
by the same core, so a replay of events plus commands gives what the live worker gave.
Each is idempotent by ``command_id`` (the core's dedup memory, as for event ids) and
kept in the account's journal: who changed what, and when.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator

from topics.models.base import (
    EventTime,
    Id,
    Label,
    Line,
    PulseModel,
    Text,
    UtcDatetime,
    after_occurred,
    component_score,
)

__all__ = [
    "COMMANDS_BY_TYPE",
    "COMMAND_TYPES",
    "Command",
    "CommandBase",
    "FeedbackVerdict",
    "OverrideCleared",
    "OverrideSet",
    "RuleSnoozed",
    "SnoozeLifted",
    "TriggerFeedback",
]

FeedbackVerdict = Literal["acknowledged", "play_started", "resolved", "not_useful", "false_alarm"]
"""What the CSM did with a trigger; ``not_useful`` and ``false_alarm`` count against the rule."""


class CommandBase(PulseModel):
    """What every command carries; the core tells commands from events by this class."""

    command_id: Id = Field(description="idempotency key: a command id is applied once")
    occurred_at: EventTime = Field(description="when the command was given")
    account_id: Id
    author: Id = Field(description="who gave it (a CSM's email or id, or a system's name)")

    @property
    def event_id(self) -> str:
        """The core dedups and orders commands with events by this id."""
        return self.command_id


class OverrideSet(CommandBase):
    """A CSM's manual health score for one component or the whole account, lapsing at
    ``expires_at``; it replaces any override of the same component."""

    type: Literal["override_set"] = "override_set"
    component: Label | None = Field(default=None, description="None: the whole score")
    score: Annotated[float, Field(ge=0, le=100)] = Field(
        description="0..100 for the whole score, 0..1 for a component"
    )
    reason: Line
    expires_at: UtcDatetime

    _component_scores_are_fractions = field_validator("score")(component_score)
    _expires_after_it_is_set = field_validator("expires_at")(after_occurred)


class OverrideCleared(CommandBase):
    """Removes the override of one component, or of the whole score, before it lapses."""

    type: Literal["override_cleared"] = "override_cleared"
    component: Label | None = None
    reason: Line | None = None


class RuleSnoozed(CommandBase):
    """Silences one rule for the account until ``until``; what it would have fired meanwhile
    is counted as suppressed and journalled."""

    type: Literal["rule_snoozed"] = "rule_snoozed"
    rule_id: Label
    until: UtcDatetime
    reason: Line

    _until_after_it_is_set = field_validator("until")(after_occurred)


class SnoozeLifted(CommandBase):
    """Ends a rule's snooze for the account before its date."""

    type: Literal["snooze_lifted"] = "snooze_lifted"
    rule_id: Label
    reason: Line | None = None


class TriggerFeedback(CommandBase):
    """What the CSM did with one of the account's triggers."""

    type: Literal["trigger_feedback"] = "trigger_feedback"
    trigger_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")] = Field(
        description="the trigger's id as published (32 hex digits)"
    )
    verdict: FeedbackVerdict
    note: Text | None = None


Command = OverrideSet | OverrideCleared | RuleSnoozed | SnoozeLifted | TriggerFeedback
COMMAND_TYPES: tuple[type[CommandBase], ...] = (
    OverrideSet,
    OverrideCleared,
    RuleSnoozed,
    SnoozeLifted,
    TriggerFeedback,
)
COMMANDS_BY_TYPE: dict[str, type[CommandBase]] = {
    model.model_fields["type"].default: model for model in COMMAND_TYPES
}
"""Each command model by the value of its ``type`` field."""
