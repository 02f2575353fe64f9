"""Evaluating conditions, then gating a holding rule by snooze, hysteresis and cooldown."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from signals.metrics import memoised
from signals.rules.context import FALSE, RuleContext, Verdict
from signals.rules.model import (
    AllOf,
    Condition,
    EventCondition,
    EventMatch,
    MetricCondition,
    PredicateCondition,
    Rule,
)
from signals.rules.predicates import PREDICATES
from signals.state import AccountState, from_micros, micros
from topics.models import Evidence

_OPS: Final[dict[str, Callable[[float, float], bool]]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}

Decision = Literal["fire", "clear", "holding", "cooldown", "snoozed"]


def check(condition: Condition, ctx: RuleContext) -> Verdict:
    """Whether ``condition`` holds as of ``ctx.as_of``, with the evidence that says so."""
    if isinstance(condition, MetricCondition):
        return _metric(condition, ctx)
    if isinstance(condition, EventCondition):
        return _event(condition.event, ctx)
    if isinstance(condition, PredicateCondition):
        return PREDICATES[condition.predicate].check(ctx, condition.params)
    if isinstance(condition, AllOf):
        verdicts = []
        for child in condition.all:
            verdict = check(child, ctx)
            if not verdict.holds:
                return FALSE
            verdicts.append(verdict)
        return _merge(verdicts)
    holding = [v for v in (check(child, ctx) for child in condition.any) if v.holds]
    return _merge(holding) if holding else FALSE


def _merge(verdicts: list[Verdict]) -> Verdict:
    episode = next((v.episode for v in verdicts if v.episode is not None), None)
    evidence = tuple(e for v in verdicts for e in v.evidence)
    return Verdict(holds=True, evidence=evidence, episode=episode)


def _metric(condition: MetricCondition, ctx: RuleContext) -> Verdict:
    value = ctx.metric(condition.metric)
    compare = _OPS[condition.op]
    if value is None:
        if condition.when_missing == "fail":
            return FALSE
        missing = Evidence(
            metric=condition.metric,
            value=None,
            threshold=condition.threshold,
            comparison=condition.op,
            window=condition.window,
            detail="no data, which passes",
        )
        return Verdict(holds=True, evidence=(missing,))
    if not compare(value, condition.threshold):
        return FALSE
    window = condition.window or condition.metric
    sustained = condition.sustained_for
    episode = None
    detail = ""
    if sustained is not None and sustained.count > 1:
        earlier = []
        for k in range(1, sustained.count):
            as_of = ctx.as_of - k * sustained.period
            past = memoised(condition.metric, ctx.state, as_of, ctx.config)
            if past is None or not compare(past, condition.threshold):
                return FALSE
            earlier.append(past)
        episode = _period_key(ctx.as_of, sustained.period)
        window = f"{sustained.count} x {_span(sustained.period)} to {episode}"
        detail = "earlier periods: " + ", ".join(f"{v:g}" for v in reversed(earlier))
    evidence = Evidence(
        metric=condition.metric,
        value=value,
        threshold=condition.threshold,
        comparison=condition.op,
        window=window,
        detail=detail,
    )
    return Verdict(holds=True, evidence=(evidence,), episode=episode)


def _span(period: timedelta) -> str:
    return f"{period.days}d" if period % timedelta(days=1) == timedelta(0) else str(period)


def _period_key(as_of: datetime, period: timedelta) -> str:
    """The ISO week for weekly periods, else the day: an event-time episode key."""
    if period == timedelta(days=7):
        year, week, _ = as_of.isocalendar()
        return f"{year}-W{week:02d}"
    return as_of.date().isoformat()


def _event(match: EventMatch, ctx: RuleContext) -> Verdict:
    event = ctx.event
    if event is None or event.type != match.type:
        return FALSE
    if match.action is not None:
        action = getattr(event, "action", None) or getattr(event, "name", None)
        if action != match.action:
            return FALSE
    value: float | None = None
    if match.field is not None and match.op is not None and match.threshold is not None:
        raw = getattr(event, match.field, None)
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            return FALSE
        value = float(raw)
        if not _OPS[match.op](value, match.threshold):
            return FALSE
    evidence = Evidence(
        metric=f"{match.type}.{match.field or 'action'}",
        value=value,
        threshold=match.threshold,
        comparison=match.op or "==",
        window="",
        detail=f"event {event.event_id} at {event.occurred_at.isoformat()}",
    )
    return Verdict(holds=True, evidence=(evidence,), episode=f"event:{event.event_id}")


# -- gating -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gate:
    """Decides whether a rule whose condition was just evaluated fires, and updates its marks."""

    rule: Rule

    def decide(self, state: AccountState, verdict: Verdict, as_of: datetime) -> Decision:
        rule = self.rule
        marks = state.rule_memory.get(rule.id)
        if marks is None:
            marks = state.rule_memory[rule.id] = [1, -1, -1]
        now_us = micros(as_of)
        if not verdict.holds:
            marks[0], marks[2] = 1, -1
            return "clear"
        if marks[2] < 0:
            marks[2] = now_us
        if rule.hysteresis and not marks[0]:
            return "holding"
        if marks[1] >= 0 and as_of < from_micros(marks[1]) + rule.cooldown:
            return "cooldown"
        snooze = state.snoozes.get(rule.id)
        if snooze is not None and now_us < snooze[0]:
            return "snoozed"
        marks[0], marks[1] = 0, now_us
        return "fire"


def condition_since(state: AccountState, rule: Rule) -> datetime | None:
    """When the rule's condition last became true (None while it is false)."""
    marks = state.rule_memory.get(rule.id)
    return None if marks is None or marks[2] < 0 else from_micros(marks[2])


def snooze(state: AccountState, rule_id: str, until: datetime, reason: str) -> None:
    """A CSM silences ``rule_id`` for this account until ``until`` (event time)."""
    state.snoozes[rule_id] = [micros(until), reason]


def unsnooze(state: AccountState, rule_id: str) -> None:
    state.snoozes.pop(rule_id, None)
