"""The pure signals core: (state, event, now) -> (state, triggers, rejections).

Time model: ``now`` only decides lateness and when held events are released; rules
are evaluated as of the account's event-time clock, the latest released event or tick.
The same sequence of ``apply``/``tick`` calls therefore gives the same triggers and ids,
live or in a replay.
"""

from __future__ import annotations

from binascii import b2a_base64
from bisect import insort
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final, cast

from signals import conversation
from signals.cancellations import newly_cancelled
from signals.commands import Commands, Note, lapse, suppressed
from signals.config import Severity, SignalsConfig
from signals.errors import Rejection, SignalsError
from signals.health import HealthModel, HealthScore, record_score
from signals.ingest import AccountEvent, StateFolder
from signals.metrics import CONTINUOUS, METRIC_READS
from signals.metrics.lifecycle import cancellation_pending, is_cancelled
from signals.peers import require_table
from signals.rules import (
    HEALTH_METRICS,
    Check,
    Gate,
    Rule,
    RuleContext,
    RuleSet,
    compile_condition,
    condition_since,
    default_rules,
    event_types,
    metric_names,
    rule_metric_names,
)
from signals.rules.context import FALSE, Fact, Verdict
from signals.state import FACET_SUBSCRIPTION, SEVERITIES, AccountState, from_micros, micros
from signals.triggers import build_trigger, revise
from topics.models import (
    AccountProfile,
    BillingEvent,
    Cancellation,
    Command,
    CommandBase,
    HealthOverride,
    HealthSnapshot,
    OverrideCleared,
    OverrideSet,
    RuleSnoozed,
    SnoozeLifted,
    SurveyResponse,
    TicketEvent,
    Trigger,
    TriggerFeedback,
    UsageEvent,
)

_EVENT_TYPES: Final[dict[str, type[AccountEvent]]] = {
    "track": UsageEvent,
    "ticket": TicketEvent,
    "billing": BillingEvent,
    "nps": SurveyResponse,
    "account": AccountProfile,
    "override_set": OverrideSet,
    "override_cleared": OverrideCleared,
    "rule_snoozed": RuleSnoozed,
    "snooze_lifted": SnoozeLifted,
    "trigger_feedback": TriggerFeedback,
}


_MICROSECOND: Final = timedelta(microseconds=1)
_CONVERSATIONS: Final[dict[str, tuple[str, str, str]]] = {
    "churn_risk": ("churn_episode", "episode_us", "episode_rank"),
    "expansion": ("expansion_episode", "offer_us", "offer_rank"),
    "advocacy": ("advocacy_ask", "ask_us", "ask_rank"),
}
"""Per trigger kind: its lifecycle window, and the account state's fields holding the
open conversation (last trigger sent, µs; highest severity rank)."""
OVERRIDES: Final = (OverrideSet, OverrideCleared)
_Held = tuple[AccountEvent, list[Any]]
"""An event to fold, with what the engine said of its message when it was held."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one ``apply`` or ``tick`` produced, with the health score when it was computed.

    ``state`` is the caller's state, updated in place (the engine owns one per account).
    ``health`` is the bare score and band: turning it into a message (breakdown, trend)
    costs more than scoring, so callers do that with ``snapshot`` only when they publish.
    """

    state: AccountState
    triggers: tuple[Trigger, ...] = ()
    rejections: tuple[Rejection, ...] = ()
    health: HealthScore | None = None
    notes: tuple[Note, ...] = ()
    """What commands did, and the triggers snoozes held back (``signals.commands``)."""
    cancellations: tuple[Cancellation, ...] = ()
    """The account's subscription ended: its outcome, once (``signals.cancellations``)."""


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    index: int
    rule: Rule
    check: Check
    gate: Gate
    escalations: tuple[tuple[Severity, Check], ...]
    """Highest first: the first that holds sets the severity."""
    reads: int
    """State facets whose change can change the rule's answer."""
    own_reads: int
    """The facets of ``reads`` its own metrics read, leaving out the health score's."""
    events: frozenset[str]
    uses_health: bool
    settles: bool
    """Reads health and otherwise only day-granular metrics: see ``_Settled``."""


@dataclass(frozen=True, slots=True)
class _Selection:
    """The rules one kind of change (touched facets, event type) can change the answer of."""

    rules: tuple[_CompiledRule, ...]
    uses_health: bool
    health_only: frozenset[int]
    """Indices of rules selected only because the health score may have moved."""


@dataclass(frozen=True, slots=True)
class _Settled:
    """Health-reading rules whose answer cannot change while the health score stands still.

    Transient (``AccountState.settled``). A rule is in ``indices`` when its last
    evaluation, on the key's day with the key's health score and band, decided "clear"
    or "holding": both leave its marks as they are, whatever the time. Until one of its
    own facets is touched, re-evaluating it with the same score and day gives that
    decision again, so an event that only moved health inputs can skip it. In a replay
    of 300 accounts, 94% of the scores after an event equal the one before.
    """

    key: tuple[object, int, float | None, str]
    """(processor, as-of day, health score, band)"""
    indices: set[int]


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
        self._compiled = [
            self._compile(i, rule, health_reads) for i, rule in enumerate(self.rules.rules)
        ]
        read = self.health_model.metric_names().union(
            *(rule_metric_names(rule) for rule in self.rules.rules)
        )
        require_table(config.peers, read)
        self._token = object()
        """Identifies this processor's rules in ``AccountState.settled``."""
        self.commands = Commands(
            [rule.id for rule in self.rules.rules], config.health.components.keys()
        )
        self._by_id = {c.rule.id: c for c in reversed(self._compiled)}
        """Rule id -> its compiled form (the first rule of an id, as ``RuleSet.get``)."""
        self._kinds = {rule_id: c.rule.kind for rule_id, c in self._by_id.items()}
        self._selection: dict[tuple[int, str], _Selection] = {}

    @staticmethod
    def _compile(index: int, rule: Rule, health_reads: int) -> _CompiledRule:
        names = rule_metric_names(rule)
        own_reads = 0
        for name in names - HEALTH_METRICS:
            own_reads |= METRIC_READS[name]
        uses_health = bool(names & HEALTH_METRICS)
        events = event_types(rule.when)
        escalations = sorted(
            ((e.severity, compile_condition(e.when)) for e in rule.escalate),
            key=lambda pair: -SEVERITIES.index(pair[0]),
        )
        return _CompiledRule(
            index,
            rule,
            compile_condition(rule.when),
            Gate(rule),
            tuple(escalations),
            own_reads | health_reads if uses_health else own_reads,
            own_reads,
            events,
            uses_health,
            settles=uses_health and not events and not names & CONTINUOUS.keys(),
        )

    # -- the engine's entry points -------------------------------------------------------

    def apply(
        self,
        state: AccountState,
        event: AccountEvent,
        now: datetime,
        *,
        source: str | None = None,
        original: bytes | None = None,
    ) -> Outcome:
        """Fold one event (held first if a reorder window is set) and evaluate what it touched.

        ``source`` and ``original`` say where the message came from: a command held for
        the reorder window keeps them, so that a refusal on its release names them."""
        if event.account_id != state.account_id:
            msg = (
                f"event {event.event_id} is for account {event.account_id!r}, "
                f"state is for {state.account_id!r}"
            )
            raise SignalsError(msg)
        window = self.config.reorder_window
        if not window:
            return self._process(state, [(event, [])], now)
        if event.occurred_at < now - self.config.lateness_bound:
            return self._process(state, [(event, [])], now)
        refused = self._refused_on_arrival(state, event)
        if refused is not None:  # said now, while the engine still has the message to show
            return Outcome(state, rejections=(refused,))
        entry = [micros(event.occurred_at), event.event_id, event.model_dump(mode="json")]
        if isinstance(event, CommandBase) and source is not None and original is not None:
            entry += [source, b2a_base64(original, newline=False).decode()]
        insort(state.pending, entry, key=lambda held: (held[0], held[1]))
        return self._process(state, self._release(state, now), now, held=True)

    def tick(self, state: AccountState, now: datetime) -> Outcome:
        """Advance event time to ``now``: release held events, then evaluate every rule."""
        outcome = self._process(state, self._release(state, now), now, held=True)
        state.clock_us = max(state.clock_us, micros(now))
        as_of = from_micros(state.clock_us)
        self.folder.prune(state, as_of)
        notes = list(outcome.notes)
        if state.overrides or state.snoozes:
            notes += lapse(state, state.clock_us)
        ctx = RuleContext(state, as_of, self.config)
        settled = self._settled(state, ctx.today, self._score_health(ctx))
        triggers = list(outcome.triggers)
        for compiled in self._compiled:
            trigger = self._evaluate(compiled, ctx, settled, notes)
            if trigger is not None:
                triggers.append(trigger)
        return Outcome(
            state,
            tuple(triggers),
            outcome.rejections,
            ctx.health,
            tuple(notes),
            outcome.cancellations,
        )

    def _cancellation(self, state: AccountState, touched: int) -> tuple[Cancellation, ...]:
        """The account's outcome when the event just ended its subscription."""
        if not touched & FACET_SUBSCRIPTION:
            return ()
        ended = newly_cancelled(state, self._kinds, self.config.lifecycle.alert_horizon)
        return () if ended is None else (ended,)

    def _settled(self, state: AccountState, today: int, health: HealthScore) -> set[int]:
        """The settled rules under this score, emptied when the day or the score moved."""
        key = (self._token, today, health.score, health.band)
        settled = state.settled
        if not isinstance(settled, _Settled) or settled.key != key:
            settled = state.settled = _Settled(key, set())
        return settled.indices

    def _score_health(self, ctx: RuleContext) -> HealthScore:
        """Score health from the context's memoised metrics, record it, expose it to rules.

        A score stays valid for the day, unless it moves with the clock; after events
        touched some of its inputs (the folder notes which), only the components reading
        them are scored again.
        """
        state, today = ctx.state, ctx.as_of.toordinal()
        memo = state.health_memo
        if memo is not None and memo[0] == today and self.health_model.steady(state):
            _, earlier, touched = memo
            if touched:
                health = self.health_model.score(state, ctx.as_of, ctx.metric, (earlier, touched))
            else:
                health = earlier._replace(as_of=ctx.as_of)
        else:
            health = self.health_model.score(state, ctx.as_of, ctx.metric)
        state.health_memo = (today, health, 0)
        record_score(state, health)
        ctx.health = health
        return health

    def health(self, state: AccountState, as_of: datetime) -> HealthSnapshot:
        return self.health_model.snapshot(state, as_of)

    def snapshot(self, state: AccountState, health: HealthScore) -> HealthSnapshot:
        """The publishable snapshot of a score from ``Outcome.health``."""
        return self.health_model.to_snapshot(state, health)

    def set_override(self, state: AccountState, override: HealthOverride) -> None:
        self.health_model.set_override(state, override)

    # -- internals -------------------------------------------------------------------

    def _release(self, state: AccountState, now: datetime) -> list[_Held]:
        """Held events whose reorder window has passed, in event-time order, each with
        what the engine said of its message (a command's source and bytes, or nothing)."""
        pending = state.pending
        if not pending:
            return []
        cutoff = micros(now - self.config.reorder_window)
        count = 0
        while count < len(pending) and pending[count][0] <= cutoff:
            count += 1
        ready, state.pending = pending[:count], pending[count:]
        return [
            (_EVENT_TYPES[raw["type"]].model_validate(raw), extra) for _, _, raw, *extra in ready
        ]

    def _process(
        self, state: AccountState, events: list[_Held], now: datetime, *, held: bool = False
    ) -> Outcome:
        """Fold and evaluate events in order.

        Held events were within the lateness bound when they arrived; their release may
        come long after (a clock can leap), so they are judged late against their own
        arrival, not the release.
        """
        triggers: list[Trigger] = []
        rejections: list[Rejection] = []
        notes: list[Note] = []
        health: HealthScore | None = None
        cancellations: list[Cancellation] = []
        bound = self.config.lateness_bound
        for event, extra in events:
            at = min(now, event.occurred_at + bound) if held else now
            if isinstance(event, CommandBase):
                touched = self._command(state, event, at, notes)
            else:
                touched = self.folder.apply(state, event, at)
            if isinstance(touched, Rejection):
                if extra:
                    touched = replace(touched, source=extra[0], original_b64=extra[1])
                rejections.append(touched)
                continue
            occurred_us = micros(event.occurred_at)
            late = occurred_us < state.clock_us and not isinstance(event, CommandBase)
            state.clock_us = max(state.clock_us, occurred_us)
            cancellations.extend(self._cancellation(state, touched))
            selection = self._selection.get((touched, event.type))
            if selection is None:
                selection = self._selection[touched, event.type] = self._select(touched, event)
            if selection.rules:
                ctx = RuleContext(state, from_micros(state.clock_us), self.config, event=event)
                settled: set[int] = set()
                if selection.uses_health:
                    health = self._score_health(ctx)
                    settled = self._settled(state, ctx.today, health)
                for compiled in selection.rules:
                    if compiled.index in settled and compiled.index in selection.health_only:
                        continue
                    trigger = self._evaluate(compiled, ctx, settled, notes)
                    if trigger is not None:
                        triggers.append(trigger)
            if late:
                triggers.extend(self._revisions(state, event))
        return Outcome(
            state, tuple(triggers), tuple(rejections), health, tuple(notes), tuple(cancellations)
        )

    def _refused_on_arrival(self, state: AccountState, event: AccountEvent) -> Rejection | None:
        """What is wrong with an event or command in itself, checked before it is held
        for the reorder window: once released, its message is long gone, and a refusal
        could no longer be dead-lettered with it."""
        if isinstance(event, CommandBase):
            return self.commands.refusal(event)
        if isinstance(event, UsageEvent):
            problem = self.folder.usage.quantity_problem(event)
            if problem is not None:
                return Rejection("invalid_quantity", event.event_id, problem)
        return None

    def _command(
        self, state: AccountState, command: Command, now: datetime, notes: list[Note]
    ) -> int | Rejection:
        """Check, admit (lateness, dedup by command id) and apply a command: the facets
        it changed, for the rules to look again (an override moves the health score)."""
        refused = self.commands.refusal(command) or self.commands.unknown_account(state, command)
        if refused is None:
            refused = self.folder.admit(state, command, now)
        if refused is not None:
            return refused
        notes.append(self.commands.apply(state, command))
        return self.folder.health_reads if isinstance(command, OVERRIDES) else 0

    def _select(self, touched: int, event: AccountEvent) -> _Selection:
        selected = tuple(c for c in self._compiled if c.reads & touched or event.type in c.events)
        health_only = frozenset(
            c.index
            for c in selected
            if c.settles and not c.own_reads & touched and event.type not in c.events
        )
        return _Selection(selected, any(c.uses_health for c in selected), health_only)

    def _evaluate(
        self, compiled: _CompiledRule, ctx: RuleContext, settled: set[int], notes: list[Note]
    ) -> Trigger | None:
        rule = compiled.rule
        verdict = compiled.check(ctx)
        if verdict.holds and self._withheld(rule, ctx):
            verdict = FALSE
        verdict, severity, episode_value = self._escalate(compiled, ctx, verdict)
        marks = None
        if episode_value is not None:
            marks = (int(episode_value), SEVERITIES.index(severity))
        decision = compiled.gate.decide(ctx.state, verdict.holds, ctx.now_us, marks)
        if compiled.settles:
            if decision in ("clear", "holding"):
                settled.add(compiled.index)
            else:
                settled.discard(compiled.index)
        if decision == "suppressed":
            notes.append(suppressed(ctx.state, rule.id, ctx.now_us))
        if decision != "fire":
            return None
        episode = verdict.episode
        if episode_value is not None:
            episode = f"{rule.episode}:{episode_value:g}:{severity}"
        if episode is None:
            since = condition_since(ctx.state, rule) or ctx.as_of
            episode = f"since:{since.isoformat()}"
        facts = verdict.facts + tuple(self._context_facts(rule, ctx, verdict.facts))
        health = self.health_model.to_snapshot(ctx.state, ctx.health or self._score_health(ctx))
        trigger = build_trigger(
            rule,
            ctx.state,
            verdict=Verdict(True, facts, episode),
            episode=episode,
            fired_at=ctx.as_of,
            health=health,
            config=self.config,
            severity=severity,
        )
        joined = not self._sent(ctx.state, rule.kind, ctx.now_us, severity)
        self._remember(ctx.state, trigger, episode, joined=joined)
        return None if joined else trigger

    @staticmethod
    def _escalate(
        compiled: _CompiledRule, ctx: RuleContext, verdict: Verdict
    ) -> tuple[Verdict, Severity, float | None]:
        """The severity a holding rule fires at, and its episode metric's value: an
        episode rule without one does not hold."""
        rule = compiled.rule
        if not verdict.holds:
            return verdict, rule.severity, None
        severity: Severity = rule.severity
        for level, check in compiled.escalations:
            raised = check(ctx)
            if raised.holds:
                severity = level
                verdict = Verdict(True, verdict.facts + raised.facts, verdict.episode)
                break
        if rule.episode is None:
            return verdict, severity, None
        value = ctx.metric(rule.episode)
        return (FALSE if value is None else verdict), severity, value

    def _withheld(self, rule: Rule, ctx: RuleContext) -> bool:
        """Whether a holding condition is not news: too little history, a cancelled
        account, or an advocacy ask of an account at risk."""
        state = ctx.state
        observed = ctx.metric("observed_days")
        if observed is None or observed < self.config.lifecycle.min_observed_days:
            return True
        if is_cancelled(state):
            return True
        if rule.kind != "advocacy":
            return False
        if cancellation_pending(state) or self._in_conversation(state, ctx.now_us):
            return True
        health = ctx.health or self._score_health(ctx)
        return health.band == "red" and not health.provisional

    def _in_conversation(self, state: AccountState, now_us: int) -> bool:
        window = self.config.lifecycle.churn_episode // _MICROSECOND
        return conversation.is_open(
            conversation.Conversation(state.episode_us, state.episode_rank), now_us, window
        )

    def _sent(self, state: AccountState, kind: str, now_us: int, severity: Severity) -> bool:
        """One conversation per account and kind (``signals.conversation``): False when
        this trigger joins the account's open churn-risk conversation (``lifecycle.
        churn_episode``), expansion conversation (``expansion_episode``) or advocacy ask
        (``advocacy_ask``) without being sent, its severity being no higher."""
        setting, last, rank = _CONVERSATIONS[kind]
        window = getattr(self.config.lifecycle, setting) // _MICROSECOND
        current = conversation.Conversation(getattr(state, last), getattr(state, rank))
        opened = conversation.admit(current, now_us, SEVERITIES.index(severity), window)
        if opened is None:
            return False
        setattr(state, last, opened.last_us)
        setattr(state, rank, opened.rank)
        return True

    @staticmethod
    def _context_facts(rule: Rule, ctx: RuleContext, shown: tuple[Fact, ...]) -> list[Fact]:
        """The rule's further evidence metrics that have data (none is ever null) and
        that the condition's own facts do not already show."""
        facts = []
        named = {fact.metric for fact in shown}
        for name in rule.evidence:
            if name in named:
                continue
            value = ctx.metric(name)
            if value is not None:
                facts.append(Fact(name, round(value, 4), None, "context", "as of firing"))
        return facts

    def _remember(
        self, state: AccountState, trigger: Trigger, episode: str, *, joined: bool = False
    ) -> None:
        entry: list[Any] = [
            trigger.trigger_id,
            trigger.rule_id,
            trigger.rule_version,
            micros(trigger.fired_at),
            episode,
        ]
        if joined:
            entry.append("joined")  # kept in the history, never revised: nobody was paged
        state.fired.append(entry)
        del state.fired[: max(0, len(state.fired) - self.config.fired_log_size)]

    def _revisions(self, state: AccountState, late: AccountEvent) -> list[Trigger]:
        """Re-check triggers fired since a late event's time; revise those no longer holding."""
        revisions: list[Trigger] = []
        since_us = micros(late.occurred_at)
        for entry in state.fired:
            trigger_id, rule_id, version, fired_us, episode = entry[:5]
            compiled = self._by_id.get(rule_id)
            if len(entry) > 5 or fired_us < since_us or compiled is None:
                continue
            rule = compiled.rule
            if rule.version != version or compiled.events:
                continue  # another version's trigger, or one about a single event
            fired_at = from_micros(fired_us)
            ctx = RuleContext(state, fired_at, self.config)
            score = self.health_model.score(state, fired_at, ctx.metric)
            ctx.health = score
            if compiled.check(ctx).holds:
                continue
            entry.append("revised")
            window = f"as of {fired_at.isoformat()}"
            values = [
                Fact(name, value, None, "==", window, "re-evaluated")
                for name in sorted(metric_names(rule.when))
                if (value := ctx.metric(name)) is not None
            ]
            original = build_trigger(
                rule,
                state,
                verdict=Verdict(True, tuple(values)),
                episode=episode,
                fired_at=fired_at,
                health=self.health_model.to_snapshot(state, score),
                config=self.config,
                severity=_episode_severity(rule, episode),
            )
            reason = (
                f"late event {late.event_id} at {late.occurred_at.isoformat()} changed the data: "
                f"the condition no longer holds as of {fired_at.isoformat()}"
            )
            revisions.append(revise(trigger_id, original, reason))
        if revisions:
            self._reopen(state)
        return revisions

    def _reopen(self, state: AccountState) -> None:
        """After late data withdrew triggers, each kind's open conversation rests on what
        is still sent: one whose last trigger sent was withdrawn falls back on the latest
        of its kind still standing, or closes. The reasons that joined the withdrawn one
        never reached anyone, so their rules are armed to decide again (and to join the
        conversation that still stands, or open one)."""
        for kind, (_, last, rank) in _CONVERSATIONS.items():
            opened_us = getattr(state, last)
            if opened_us < 0:
                continue
            sent = [e for e in state.fired if len(e) == 5 and self._kind(e[1]) == kind]
            if any(entry[3] == opened_us for entry in sent):
                continue
            latest = max(sent, key=lambda entry: entry[3], default=None)
            if latest is None:
                setattr(state, last, -1)
                setattr(state, rank, -1)
            else:
                rule = self._by_id[latest[1]].rule
                setattr(state, last, latest[3])
                setattr(state, rank, SEVERITIES.index(_episode_severity(rule, latest[4])))
            for entry in state.fired:
                marks = state.rule_memory.get(entry[1])
                joined = entry[5:] == ["joined"] and entry[3] >= opened_us
                if joined and marks is not None and self._kind(entry[1]) == kind:
                    marks[0], marks[1] = 1, -1
                    del marks[3:]
            state.settled = None  # re-armed rules are no longer settled

    def _kind(self, rule_id: str) -> str | None:
        compiled = self._by_id.get(rule_id)
        return None if compiled is None else compiled.rule.kind


def _episode_severity(rule: Rule, episode: str) -> Severity:
    """The severity a trigger fired at: an escalating episode names it last
    (``metric:value:severity``); any other trigger fires at the rule's own."""
    if rule.episode is not None and episode.startswith(f"{rule.episode}:"):
        named = episode.rsplit(":", 1)[1]
        if named in SEVERITIES:
            return cast(Severity, named)
    return rule.severity
