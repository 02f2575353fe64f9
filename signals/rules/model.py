"""Rule definitions: generic building blocks a rules file composes without Python.

A condition is a metric comparison (optionally sustained over N evaluation periods),
a match on the triggering event, a named Python predicate, or an ``all``/``any`` of
conditions. Names are checked at load time, so a typo is an error with its line.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
)

from signals.config import Severity
from signals.health import HEALTH_VALUES
from signals.metrics import METRICS
from signals.rules.predicates import PREDICATES

HEALTH_METRICS = frozenset(HEALTH_VALUES)
"""Metrics that come from the health snapshot rather than the registry."""

Comparison = Literal[">=", "<=", ">", "<", "=="]
Kind = Literal["churn_risk", "expansion", "advocacy"]
EventType = Literal["track", "ticket", "billing", "nps", "account"]

_DURATION = re.compile(r"^\s*(\d+)\s*([wdhm])\s*$")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}


def _duration(value: Any) -> Any:
    """Accept "7d", "2w", "12h", "30m" besides ISO 8601 and seconds."""
    if isinstance(value, str) and (match := _DURATION.match(value)):
        return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SustainedFor(_Strict):
    """The condition must also have held at as_of - k x period for k in 1..count-1."""

    count: int = Field(ge=1)
    period: Duration = timedelta(days=7)


class MetricCondition(_Strict):
    metric: str
    op: Comparison
    threshold: float
    window: str = ""
    """How the evidence describes the window (e.g. "7d"); defaults to the metric's name."""
    sustained_for: SustainedFor | None = None
    when_missing: Literal["fail", "pass"] = "fail"
    """A metric without data fails the comparison unless this says "pass" (e.g. no tickets)."""

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, name: str) -> str:
        if name not in METRICS and name not in HEALTH_METRICS:
            msg = f"unknown metric {name!r}"
            raise ValueError(msg)
        return name

    @field_validator("sustained_for")
    @classmethod
    def _sustained_needs_history(
        cls, value: SustainedFor | None, info: ValidationInfo
    ) -> SustainedFor | None:
        if value is not None and value.count > 1 and info.data.get("metric") in HEALTH_METRICS:
            msg = "sustained_for needs a bucketed metric; use a predicate for health history"
            raise ValueError(msg)
        return value


class EventMatch(_Strict):
    """Matches the event being applied: its type, its action (or usage name), one field."""

    type: EventType
    action: str | None = None
    field: str | None = None
    op: Comparison | None = None
    threshold: float | None = None

    @field_validator("threshold")
    @classmethod
    def _field_and_op_together(cls, value: float | None, info: ValidationInfo) -> float | None:
        parts = (info.data.get("field"), info.data.get("op"), value)
        if any(p is not None for p in parts) and any(p is None for p in parts):
            msg = "field, op and threshold go together"
            raise ValueError(msg)
        return value


class EventCondition(_Strict):
    event: EventMatch


class PredicateCondition(_Strict):
    """A named Python predicate, for conditions the building blocks cannot express."""

    predicate: str
    params: dict[str, float] = Field(default_factory=dict)

    @field_validator("predicate")
    @classmethod
    def _known_predicate(cls, name: str) -> str:
        if name not in PREDICATES:
            msg = f"unknown predicate {name!r} (known: {', '.join(sorted(PREDICATES))})"
            raise ValueError(msg)
        return name


class AllOf(_Strict):
    all: tuple[Condition, ...] = Field(min_length=1)


class AnyOf(_Strict):
    any: tuple[Condition, ...] = Field(min_length=1)


_CONDITION_KEYS = ("metric", "event", "predicate", "all", "any")


def _condition_tag(value: Any) -> str | None:
    """Pick the condition kind by its key, so a bad condition gets one clear error."""
    if isinstance(value, BaseModel):
        return {
            MetricCondition: "metric",
            EventCondition: "event",
            PredicateCondition: "predicate",
            AllOf: "all",
            AnyOf: "any",
        }[type(value)]
    if isinstance(value, dict):
        return next((key for key in _CONDITION_KEYS if key in value), None)
    return None


Condition = Annotated[
    Annotated[MetricCondition, Tag("metric")]
    | Annotated[EventCondition, Tag("event")]
    | Annotated[PredicateCondition, Tag("predicate")]
    | Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")],
    Discriminator(
        _condition_tag,
        custom_error_type="condition",
        custom_error_message="a condition has one of the keys: " + ", ".join(_CONDITION_KEYS),
    ),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()


def _known_metric_name(name: str) -> str:
    if name not in METRICS and name not in HEALTH_METRICS:
        msg = f"unknown metric {name!r}"
        raise ValueError(msg)
    return name


KnownMetric = Annotated[str, AfterValidator(_known_metric_name)]


class Escalation(_Strict):
    """A higher severity while a further condition holds too (e.g. renewal within 30 days)."""

    severity: Severity
    when: Condition


class Rule(_Strict):
    """One trigger definition; (id, version) names it in every trigger it fires."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,99}$")
    version: int = Field(ge=1, le=2**31 - 1)
    kind: Kind
    severity: Severity
    description: str = Field(min_length=1, max_length=300)
    """The one-line explanation a CSM reads, before the evidence."""
    play: str = Field(min_length=1, max_length=255)
    """The recommended play."""
    cooldown: Duration = timedelta(days=7)
    hysteresis: bool = True
    """Re-arm only after the condition has been false at an evaluation."""
    when: Condition
    episode: KnownMetric | None = None
    """A metric whose value names the episode (e.g. ``contract_renewal_day``): the rule
    fires once per value, and again within it only when its severity escalates."""
    escalate: tuple[Escalation, ...] = ()
    """Severities above ``severity``, each with the condition that raises it to it."""
    evidence: tuple[KnownMetric, ...] = ()
    """Further metrics a CSM wants beside the condition's (e.g. days past due)."""


class RuleSet(_Strict):
    """A rules file: its own rules, optionally on top of the defaults.

    With ``extends: defaults`` a file changes only what it names: a rule with a
    default's id replaces it (raise its ``version`` so its triggers get new ids),
    ``disable`` drops defaults, ``enable`` switches on rules Pulse ships switched off
    (``signals/optional_rules.yaml``), and new ids are added.
    """

    extends: Literal["defaults", "textbook"] | None = None
    disable: tuple[str, ...] = ()
    enable: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()

    def get(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


def rule_metric_names(rule: Rule) -> frozenset[str]:
    """Every metric a rule reads: its condition's, its escalations', its episode's."""
    names = metric_names(rule.when).union(*(metric_names(e.when) for e in rule.escalate))
    return names | ({rule.episode} if rule.episode else set())


def metric_names(condition: Condition) -> frozenset[str]:
    if isinstance(condition, MetricCondition):
        return frozenset({condition.metric})
    if isinstance(condition, AllOf | AnyOf):
        children = condition.all if isinstance(condition, AllOf) else condition.any
        return frozenset().union(*(metric_names(c) for c in children))
    if isinstance(condition, PredicateCondition):
        return PREDICATES[condition.predicate].metrics
    return frozenset()


def event_types(condition: Condition) -> frozenset[str]:
    if isinstance(condition, EventCondition):
        return frozenset({condition.event.type})
    if isinstance(condition, AllOf | AnyOf):
        children = condition.all if isinstance(condition, AllOf) else condition.any
        return frozenset().union(*(event_types(c) for c in children))
    return frozenset()
