"""The Pulse event contract: input events, outputs, and the field types they share."""

from topics.models.base import PulseModel
from topics.models.commands import (
    COMMAND_TYPES,
    COMMANDS_BY_TYPE,
    Command,
    CommandBase,
    FeedbackVerdict,
    OverrideCleared,
    OverrideSet,
    RuleSnoozed,
    SnoozeLifted,
    TriggerFeedback,
)
from topics.models.inputs import (
    AccountProfile,
    BillingEvent,
    InputEvent,
    SurveyResponse,
    TicketEvent,
    UsageEvent,
    UserAlias,
    UserLink,
)
from topics.models.outputs import (
    ComponentScore,
    DeadLetter,
    Evidence,
    HealthOverride,
    HealthSnapshot,
    OutputEvent,
    Trigger,
)

__all__ = [
    "COMMANDS_BY_TYPE",
    "COMMAND_TYPES",
    "AccountProfile",
    "BillingEvent",
    "Command",
    "CommandBase",
    "ComponentScore",
    "DeadLetter",
    "Evidence",
    "FeedbackVerdict",
    "HealthOverride",
    "HealthSnapshot",
    "InputEvent",
    "OutputEvent",
    "OverrideCleared",
    "OverrideSet",
    "PulseModel",
    "RuleSnoozed",
    "SnoozeLifted",
    "SurveyResponse",
    "TicketEvent",
    "Trigger",
    "TriggerFeedback",
    "UsageEvent",
    "UserAlias",
    "UserLink",
]
