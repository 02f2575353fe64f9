"""The pure signals core: (state, event, now) -> (state, triggers, rejections).

Time model: ``now`` only decides lateness and when held events are released; rules
are evaluated as of the account's event-time clock, the latest released event or tick.
The same sequence of ``apply``/``tick`` calls therefore gives the same triggers and ids,
live or in a replay.
"""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from signals.config import SignalsConfig
from signals.errors import Rejection, SignalsError
from signals.health import HealthModel, HealthScore, health_metrics, prune_overrides, record_score
from signals.ingest import AccountEvent, StateFolder
from signals.metrics import METRIC_READS
from signals.rules import (
    HEALTH_METRICS,
    Gate,
    Rule,
    RuleContext,
    RuleSet,
    check,
    condition_since,
    default_rules,
    event_types,
    metric_names,
)
from signals.rules.context import Verdict
from signals.state import AccountState, from_micros, micros
from signals.triggers import build_trigger, revise
from topics.models import (
    AccountProfile,
    BillingEvent,
    Evidence,
    HealthOverride,
    HealthSnapshot,
    SurveyResponse,
    TicketEvent,
    Trigger,
    UsageEvent,
)

_EVENT_TYPES: Final[dict[str, type[AccountEvent]]] = {
    "track": UsageEvent,
    "ticket": TicketEvent,
    "billing": BillingEvent,
    "nps": SurveyResponse,
    "account": AccountProfile,
}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one ``apply`` or ``tick`` produced; a tick also returns the health score.

    ``state`` is the caller's state, updated in place (the engine owns one per account).
    ``health`` is the bare score and band: turning it into a message (breakdown, trend)
    costs more than scoring, so callers do that with ``snapshot`` only when they publish.
    """

    state: AccountState
    triggers: tuple[Trigger, ...] = ()
    rejections: tuple[Rejection, ...] = ()
    health: HealthScore | None = None


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    rule: Rule
    gate: Gate
    reads: int
    """State facets whose change can change the rule's answer."""
    events: frozenset[str]
    uses_health: bool


class SignalProcessor:
    """Applies events and ticks to one account's state under a configuration and rules."""

    def __init__(self, config: SignalsConfig, rules: RuleSet | None = None) -> None:
        self.config = config
        self.rules = rules if rules is not None else default_rules()
        self.folder = StateFolder(config)
        self.health_model = HealthModel(config)
        health_reads = 0
        for name in self.health_model.metric_names():
            health_reads |= METRIC_READS[name]
        self._compiled = [self._compile(rule, health_reads) for rule in self.rules.rules]
        self._selection: dict[tuple[int, str], tuple[_CompiledRule, ...]] = {}
        """(touched facets, event type) -> the rules that event can change the answer of."""

    @staticmethod
    def _compile(rule: Rule, health_reads: int) -> _CompiledRule:
        names = metric_names(rule.when)
        reads = 0
        for name in names - HEALTH_METRICS:
            reads |= METRIC_READS[name]
        uses_health = bool(names & HEALTH_METRICS)
        if uses_health:
            reads |= health_reads
        return _CompiledRule(rule, Gate(rule), reads, event_types(rule.when), uses_health)

    # -- the engine's entry points -------------------------------------------------------

    def apply(self, state: AccountState, event: AccountEvent, now: datetime) -> Outcome:
        """Fold one event (held first if a reorder window is set) and evaluate what it touched."""
        if event.account_id != state.account_id:
            msg = (
                f"event {event.event_id} is for account {event.account_id!r}, "
                f"state is for {state.account_id!r}"
            )
            raise SignalsError(msg)
        window = self.config.reorder_window
        if not window:
            return self._process(state, [event], now)
        if event.occurred_at < now - self.config.lateness_bound:
            return self._process(state, [event], now)
        entry = [micros(event.occurred_at), event.event_id, event.model_dump(mode="json")]
        insort(state.pending, entry, key=lambda held: (held[0], held[1]))
        return self._process(state, self._release(state, now), now)

    def tick(self, state: AccountState, now: datetime) -> Outcome:
        """Advance event time to ``now``: release held events, then evaluate every rule."""
        outcome = self._process(state, self._release(state, now), now)
        state.clock_us = max(state.clock_us, micros(now))
        as_of = from_micros(state.clock_us)
        self.folder.prune(state, as_of)
        prune_overrides(state, as_of)
        state.snoozes = {r: s for r, s in state.snoozes.items() if s[0] > state.clock_us}
        ctx = RuleContext(state, as_of, self.config)
        self._score_health(ctx)
        triggers = list(outcome.triggers)
        for compiled in self._compiled:
            triggers.extend(self._evaluate(compiled, ctx))
        return Outcome(state, tuple(triggers), outcome.rejections, ctx.health)

    def _score_health(self, ctx: RuleContext) -> HealthScore:
        """Score health from the context's memoised metrics, record it, expose it to rules."""
        health = self.health_model.score(ctx.state, ctx.as_of, ctx.metric)
        record_score(ctx.state, health)
        ctx.health, ctx.health_values = health, health_metrics(ctx.state, health)
        return health

    def health(self, state: AccountState, as_of: datetime) -> HealthSnapshot:
        return self.health_model.snapshot(state, as_of)

    def snapshot(self, state: AccountState, health: HealthScore) -> HealthSnapshot:
        """The publishable snapshot of a score from ``Outcome.health``."""
        return self.health_model.to_snapshot(state, health)

    def set_override(self, state: AccountState, override: HealthOverride) -> None:
        self.health_model.set_override(state, override)

    # -- internals -------------------------------------------------------------------

    def _release(self, state: AccountState, now: datetime) -> list[AccountEvent]:
        """Held events whose reorder window has passed, in event-time order."""
        pending = state.pending
        if not pending:
            return []
        cutoff = micros(now - self.config.reorder_window)
        count = 0
        while count < len(pending) and pending[count][0] <= cutoff:
            count += 1
        ready, state.pending = pending[:count], pending[count:]
        return [_EVENT_TYPES[raw["type"]].model_validate(raw) for _, _, raw in ready]

    def _process(self, state: AccountState, events: list[AccountEvent], now: datetime) -> Outcome:
        triggers: list[Trigger] = []
        rejections: list[Rejection] = []
        for event in events:
            touched = self.folder.apply(state, event, now)
            if isinstance(touched, Rejection):
                rejections.append(touched)
                continue
            occurred_us = micros(event.occurred_at)
            late = occurred_us < state.clock_us
            state.clock_us = max(state.clock_us, occurred_us)
            selected = self._selection.get((touched, event.type))
            if selected is None:
                selected = self._selection[touched, event.type] = tuple(
                    c for c in self._compiled if c.reads & touched or event.type in c.events
                )
            if selected:
                as_of = from_micros(state.clock_us)
                ctx = RuleContext(state, as_of, self.config, event=event)
                if any(c.uses_health for c in selected):
                    self._score_health(ctx)
                for compiled in selected:
                    triggers.extend(self._evaluate(compiled, ctx))
            if late:
                triggers.extend(self._revisions(state, event))
        return Outcome(state, tuple(triggers), tuple(rejections))

    def _evaluate(self, compiled: _CompiledRule, ctx: RuleContext) -> list[Trigger]:
        verdict = check(compiled.rule.when, ctx)
        if compiled.gate.decide(ctx.state, verdict, ctx.as_of) != "fire":
            return []
        rule = compiled.rule
        episode = verdict.episode
        if episode is None:
            since = condition_since(ctx.state, rule) or ctx.as_of
            episode = f"since:{since.isoformat()}"
        health = self.health_model.to_snapshot(ctx.state, ctx.health or self._score_health(ctx))
        trigger = build_trigger(
            rule,
            ctx.state,
            verdict=verdict,
            episode=episode,
            fired_at=ctx.as_of,
            health=health,
            config=self.config,
        )
        self._remember(ctx.state, trigger, episode)
        return [trigger]

    def _remember(self, state: AccountState, trigger: Trigger, episode: str) -> None:
        entry: list[Any] = [
            trigger.trigger_id,
            trigger.rule_id,
            trigger.rule_version,
            micros(trigger.fired_at),
            episode,
        ]
        state.fired.append(entry)
        del state.fired[: max(0, len(state.fired) - self.config.fired_log_size)]

    def _revisions(self, state: AccountState, late: AccountEvent) -> list[Trigger]:
        """Re-check triggers fired since a late event's time; revise those no longer holding."""
        revisions: list[Trigger] = []
        since_us = micros(late.occurred_at)
        for entry in state.fired:
            trigger_id, rule_id, version, fired_us, episode = entry[:5]
            rule = self.rules.get(rule_id)
            if len(entry) > 5 or fired_us < since_us or rule is None or rule.version != version:
                continue
            if event_types(rule.when):
                continue  # about one event, which late data elsewhere cannot change
            fired_at = from_micros(fired_us)
            ctx = RuleContext(state, fired_at, self.config)
            score = self.health_model.score(state, fired_at, ctx.metric)
            ctx.health, ctx.health_values = score, health_metrics(state, score)
            if check(rule.when, ctx).holds:
                continue
            entry.append("revised")
            values = [
                Evidence(
                    metric=name,
                    value=ctx.metric(name),
                    threshold=None,
                    comparison="==",
                    window=f"as of {fired_at.isoformat()}",
                    detail="re-evaluated",
                )
                for name in sorted(metric_names(rule.when))
            ]
            original = build_trigger(
                rule,
                state,
                verdict=Verdict(True, tuple(values)),
                episode=episode,
                fired_at=fired_at,
                health=self.health_model.to_snapshot(state, score),
                config=self.config,
            )
            reason = (
                f"late event {late.event_id} at {late.occurred_at.isoformat()} changed the data: "
                f"the condition no longer holds as of {fired_at.isoformat()}"
            )
            revisions.append(revise(trigger_id, original, reason))
        return revisions
