"""Output events: triggers, health snapshots and dead letters the engine publishes."""

from __future__ import annotations

import binascii
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, field_validator

from topics.models.base import (
    Count,
    Id,
    Label,
    Line,
    NonNegative,
    PulseModel,
    Text,
    UtcDatetime,
    component_score,
)
from topics.naming import check_topic_name

__all__ = [
    "Cancellation",
    "ComponentScore",
    "DeadLetter",
    "Evidence",
    "HealthOverride",
    "HealthSnapshot",
    "OutputEvent",
    "PriorAlert",
    "Trigger",
]

Fraction = Annotated[float, Field(ge=0, le=1)]
Points = Annotated[float, Field(ge=0, le=100)]

ComponentName = Literal["product_usage", "engagement", "support", "relationship", "financial"]


class Evidence(PulseModel):
    """A metric value and the threshold it crossed: why a trigger fired."""

    metric: Label
    value: float | None
    threshold: float | None
    comparison: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    window: Line
    detail: Line = ""


class ComponentScore(PulseModel):
    """One weighted component of a health score, with the metrics behind it."""

    name: ComponentName
    weight: NonNegative
    effective_weight: Points
    score: Fraction
    points: Points
    metrics: dict[Label, float | None]
    overridden: bool = False


class HealthOverride(PulseModel):
    """A CSM's manual score for a component or the whole account, lapsing at `expires_at`."""

    component: Label | None
    score: Annotated[float, Field(ge=0, le=100)] = Field(description="0..100 whole, 0..1 component")
    reason: Line
    set_by: Id | None
    expires_at: UtcDatetime

    _component_scores_are_fractions = field_validator("score")(component_score)


class HealthSnapshot(PulseModel):
    """An account's health at an event time, with its breakdown and trend."""

    type: Literal["health"] = "health"
    account_id: Id
    as_of: UtcDatetime
    score: Annotated[float, Field(ge=0, le=100)] | None
    band: Literal["green", "yellow", "red", "unknown"]
    components: list[ComponentScore]
    missing_components: list[Label]
    trend_7d: float | None
    trend_30d: float | None
    overrides: list[HealthOverride] = Field(default_factory=list)
    provisional: bool = False
    """Too little data to judge: too few components scored, or too short a history.
    Rules never act on a provisional score; it is published so a CSM sees why."""


class Trigger(PulseModel):
    """A fired rule: deterministic id, evidence and the play a CSM should run."""

    type: Literal["trigger"] = "trigger"
    trigger_id: Id
    account_id: Id
    rule_id: Id
    rule_version: Annotated[int, Field(ge=1, le=2**31 - 1)]
    kind: Literal["churn_risk", "expansion", "advocacy"]
    severity: Literal["low", "medium", "high", "critical"]
    priority: NonNegative
    fired_at: UtcDatetime
    emitted_at: UtcDatetime | None = None
    evidence: list[Evidence]
    health: HealthSnapshot | None
    csm_owner: Id | None
    recommended_play: Label
    explanation: Line
    revision_of: Id | None = None
    revision_reason: Line | None = None


class PriorAlert(PulseModel):
    """A churn-risk trigger that paged a CSM before the account cancelled."""

    trigger_id: Id
    rule_id: Id
    fired_at: UtcDatetime
    revised: bool = False
    """Late data since showed its condition did not hold (a revision was published)."""


class Cancellation(PulseModel):
    """An account's subscription ended: the outcome its churn-risk alerts are judged by,
    published once per cancellation (the same cancellation gives the same id)."""

    type: Literal["cancellation"] = "cancellation"
    cancellation_id: Id
    account_id: Id
    cancelled_at: UtcDatetime
    """When the subscription ended (event time)."""
    scheduled: bool
    """The cancellation had been scheduled ahead (a notice, such as Stripe's
    ``cancel_at_period_end``), rather than taking effect at once."""
    trial: bool
    """A trial that lapsed, not paid churn: it ended by the billing system's trial end
    (Stripe's ``trial_end``), the plan or the CRM's lifecycle stage says trial, or a
    trial was started and no recurring revenue is known."""
    mrr: NonNegative | None
    """The last monthly recurring revenue known before the end: what was lost."""
    plan: Label | None
    csm_owner: Id | None
    prior_alerts: list[PriorAlert]
    """Churn-risk triggers that paged a CSM in the ``horizon_days`` before the end (and
    since the account last came back, if it had left before), oldest first. The account
    remembers its last ``fired_log_size`` triggers of every kind."""
    horizon_days: Annotated[int, Field(ge=1)]
    emitted_at: UtcDatetime | None = None


_ERROR_KIND = re.compile(r"[a-z][a-z0-9_]{0,63}")


def _base64(value: str) -> str:
    try:
        binascii.a2b_base64(value, strict_mode=True)
    except binascii.Error as exc:
        msg = f"is not valid base64 ({exc})"
        raise ValueError(msg) from None
    return value


def _error_kind(value: str) -> str:
    if not _ERROR_KIND.fullmatch(value):
        raise ValueError("must be a short snake_case word such as 'decode' or 'late'")
    return value


Base64 = Annotated[str, AfterValidator(_base64)]


class DeadLetter(PulseModel):
    """A message the engine could not use, kept byte for byte with where it came from and why."""

    type: Literal["dead_letter"] = "dead_letter"
    original_b64: Base64
    original_truncated: bool = False
    """True when the original was over the size limit and only its first bytes are kept."""
    original_key_b64: Base64 | None = None
    source_topic: Annotated[str, AfterValidator(check_topic_name)]
    partition: Count
    offset: Count
    error_kind: Annotated[str, AfterValidator(_error_kind)]
    error_message: Text
    received_at: UtcDatetime

    @property
    def original(self) -> bytes:
        """The original message value, for inspection or replay."""
        return binascii.a2b_base64(self.original_b64)

    @property
    def original_key(self) -> bytes | None:
        """The original message key, if it had one."""
        if self.original_key_b64 is None:
            return None
        return binascii.a2b_base64(self.original_key_b64)


OutputEvent = Trigger | HealthSnapshot | DeadLetter | Cancellation
