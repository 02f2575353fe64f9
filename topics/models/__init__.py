"""The Pulse event contract: input events, outputs, and the field types they share."""

from topics.models.base import PulseModel
from topics.models.inputs import (
    AccountProfile,
    BillingEvent,
    InputEvent,
    SurveyResponse,
    TicketEvent,
    UsageEvent,
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
    "AccountProfile",
    "BillingEvent",
    "ComponentScore",
    "DeadLetter",
    "Evidence",
    "HealthOverride",
    "HealthSnapshot",
    "InputEvent",
    "OutputEvent",
    "PulseModel",
    "SurveyResponse",
    "TicketEvent",
    "Trigger",
    "UsageEvent",
    "UserLink",
]
