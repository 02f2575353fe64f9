"""Evaluating conditions, then gating a holding rule by snooze, hysteresis and cooldown."""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final, Literal

from signals.metrics import memoised
from signals.rules.context import FALSE, Fact, RuleContext, Verdict
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

_OPS: Final[dict[str, Callable[[float, float], bool]]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}

Decision = Literal["fire", "clear", "holding", "cooldown", "snoozed", "suppressed"]

Check = Callable[[RuleContext], Verdict]
"""A compiled condition: closures over its settings, so evaluation does no dispatch."""


def compile_condition(condition: Condition) -> Check:
    """The condition as a function of the context: whether it holds as of ``ctx.as_of``,
    with the facts that say so. Compile once per rule, run per evaluation."""
    if isinstance(condition, MetricCondition):
        return _metric(condition)
    if isinstance(condition, EventCondition):
        return _event(condition.event)
    if isinstance(condition, PredicateCondition):
        predicate, params = PREDICATES[condition.predicate].check, condition.params
        return lambda ctx: predicate(ctx, params)
    if isinstance(condition, AllOf):
        return _all(tuple(compile_condition(child) for child in condition.all))
    return _any(tuple(compile_condition(child) for child in condition.any))


def _all(children: tuple[Check, ...]) -> Check:
    def run(ctx: RuleContext) -> Verdict:
        verdicts = []
        for child in children:
            verdict = child(ctx)
            if not verdict.holds:
                return FALSE
            verdicts.append(verdict)
        return _merge(verdicts)

    return run


def _any(children: tuple[Check, ...]) -> Check:
    def run(ctx: RuleContext) -> Verdict:
        holding = [v for v in (child(ctx) for child in children) if v.holds]
        return _merge(holding) if holding else FALSE

    return run


def _merge(verdicts: list[Verdict]) -> Verdict:
    if len(verdicts) == 1:
        return verdicts[0]
    episode = next((v.episode for v in verdicts if v.episode is not None), None)
    facts = tuple(f for v in verdicts for f in v.facts)
    return Verdict(holds=True, facts=facts, episode=episode)


def _metric(condition: MetricCondition) -> Check:
    name, op, threshold = condition.metric, condition.op, condition.threshold
    compare = _OPS[op]
    window = condition.window or name
    sustained = condition.sustained_for
    # "No data, which passes" is no evidence: a CSM cannot check a value that is not there.
    if_missing = FALSE if condition.when_missing == "fail" else Verdict(holds=True)

    if sustained is None or sustained.count <= 1:

        def run(ctx: RuleContext) -> Verdict:
            value = ctx.metric(name)
            if value is None:
                return if_missing
            if not compare(value, threshold):
                return FALSE
            return Verdict(holds=True, facts=(Fact(name, value, threshold, op, window),))

        return run

    count, period = sustained.count, sustained.period

    def run_sustained(ctx: RuleContext) -> Verdict:
        value = ctx.metric(name)
        if value is None:
            return if_missing
        if not compare(value, threshold):
            return FALSE
        earlier = []
        for k in range(1, count):
            past = memoised(name, ctx.state, ctx.as_of - k * period, ctx.config)
            if past is None or not compare(past, threshold):
                return FALSE
            earlier.append(past)
        episode = _period_key(ctx.as_of, period)
        detail = "earlier periods: " + ", ".join(f"{v:g}" for v in reversed(earlier))
        span = f"{count} x {_span(period)} to {episode}"
        fact = Fact(name, value, threshold, op, span, detail)
        return Verdict(holds=True, facts=(fact,), episode=episode)

    return run_sustained


def _span(period: timedelta) -> str:
    return f"{period.days}d" if period % timedelta(days=1) == timedelta(0) else str(period)


def _period_key(as_of: datetime, period: timedelta) -> str:
    """The ISO week for weekly periods, else the day: an event-time episode key."""
    if period == timedelta(days=7):
        year, week, _ = as_of.isocalendar()
        return f"{year}-W{week:02d}"
    return as_of.date().isoformat()


def _event(match: EventMatch) -> Check:
    kind, action = match.type, match.action
    field, op, threshold = match.field, match.op, match.threshold
    test = None
    if field is not None and op is not None and threshold is not None:
        test = (field, _OPS[op], threshold)
    metric = f"{kind}.{field}" if field else f"{kind}.{action or 'event'}"
    comparison = op or ">="

    def run(ctx: RuleContext) -> Verdict:
        event = ctx.event
        if event is None or event.type != kind:
            return FALSE
        if action is not None:
            named = getattr(event, "action", None) or getattr(event, "name", None)
            if named != action:
                return FALSE
        value, limit = 1.0, 1.0  # without a field, the evidence is the one event itself
        if test is not None:
            name, compare, limit = test
            raw = getattr(event, name, None)
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                return FALSE
            value = float(raw)
            if not compare(value, limit):
                return FALSE
        fact = Fact(metric, value, limit, comparison if test else ">=", "", _describe(event))
        return Verdict(holds=True, facts=(fact,), episode=f"event:{event.event_id}")

    return run


_IDENTIFYING = ("invoice_id", "amount", "currency", "ticket_id", "priority", "role", "csat")


def _describe(event: object) -> str:
    """The event and the fields a CSM looks it up by in their own systems."""
    event_id, at = getattr(event, "event_id", "?"), getattr(event, "occurred_at", None)
    parts = [f"event {event_id}" + (f" at {at.isoformat()}" if at is not None else "")]
    for name in _IDENTIFYING:
        value = getattr(event, name, None)
        if value is not None:
            parts.append(f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}")
    return ", ".join(parts)


# -- gating -------------------------------------------------------------------------


class Gate:
    """Decides whether a rule whose condition was just evaluated fires, and updates its marks.

    Works in event-time microseconds (the state's clock), so a decision does no datetime
    arithmetic: it runs for every rule an event or tick re-evaluates.
    """

    __slots__ = ("cooldown_us", "hysteresis", "rule_id")

    def __init__(self, rule: Rule) -> None:
        self.rule_id = rule.id
        self.hysteresis = rule.hysteresis
        self.cooldown_us = rule.cooldown // timedelta(microseconds=1)

    def decide(
        self, state: AccountState, holds: bool, now_us: int, episode: tuple[int, int] | None = None
    ) -> Decision:
        """``episode`` is (episode value, severity rank) for a rule with an episode metric:
        it fires once per value, and again within it only at a higher severity."""
        marks = state.rule_memory.get(self.rule_id)
        if marks is None:
            marks = state.rule_memory[self.rule_id] = [1, -1, -1]
        if not holds:
            marks[0], marks[2] = 1, -1
            return "clear"
        if marks[2] < 0:
            marks[2] = now_us
        if episode is not None:
            if len(marks) > 3 and marks[3] == episode[0] and episode[1] <= marks[4]:
                return "holding"
        else:
            if self.hysteresis and not marks[0]:
                return "holding"
            if marks[1] >= 0 and now_us < marks[1] + self.cooldown_us:
                return "cooldown"
        held = _gate_snoozed(self.rule_id, state, marks, now_us)
        if held is not None:
            return held
        marks[0], marks[1] = 0, now_us
        if episode is not None:
            marks[3:] = list(episode)
        return "fire"


def _gate_snoozed(
    rule_id: str, state: AccountState, marks: list[int], now_us: int
) -> Decision | None:
    """A snoozed rule is held back: "suppressed" once per stretch of its condition
    holding, "snoozed" after. Its marks stay armed, so it fires once the snooze is over."""
    snooze = state.snoozes.get(rule_id)
    if snooze is None or now_us >= snooze[0]:
        return None
    if snooze[2:3] == [marks[2]]:
        return "snoozed"
    snooze[2:] = [marks[2]]
    return "suppressed"


def condition_since(state: AccountState, rule: Rule) -> datetime | None:
    """When the rule's condition last became true (None while it is false)."""
    marks = state.rule_memory.get(rule.id)
    return None if marks is None or marks[2] < 0 else from_micros(marks[2])


def snooze(state: AccountState, rule_id: str, until: datetime, reason: str) -> None:
    """A CSM silences ``rule_id`` for this account until ``until`` (event time)."""
    state.snoozes[rule_id] = [micros(until), reason]  # (, condition-since µs suppressed)


def unsnooze(state: AccountState, rule_id: str) -> None:
    state.snoozes.pop(rule_id, None)
