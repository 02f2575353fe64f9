"""Replaying history through the pure core with an event-time clock.

Events run in event-time order (stable sort by occurred_at, event_id); the clock ticks
every ``tick_every`` (default: the config's) as event time passes, so absence rules
fire exactly as they would have live. The same events, configuration and rules give
the same trigger ids.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from signals.attribution import Attribution
from signals.config import SignalsConfig
from signals.core import Outcome, SignalProcessor
from signals.driver import AccountDriver, TickSchedule
from signals.errors import Rejection
from signals.ingest import AccountEvent
from signals.rules import RuleSet
from signals.state import EPOCH, AccountState, micros
from topics.models import InputEvent, Trigger


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    events: int
    accounts: int
    triggers_by_rule: dict[str, int]
    rejections_by_kind: dict[str, int]
    revisions: int
    health_bands: dict[str, int]
    """Accounts per health band at the end of the replay."""
    commands: dict[str, int]
    """What commands did and snoozes held back (``signals.commands.Note`` kinds)."""
    first_event: datetime | None
    last_event: datetime | None


@dataclass(frozen=True, slots=True)
class ReplayResult:
    triggers: tuple[Trigger, ...]
    rejections: tuple[Rejection, ...]
    summary: ReplaySummary
    states: dict[str, AccountState] = field(repr=False)


def replay(
    events: Iterable[tuple[str, InputEvent]],
    config: SignalsConfig,
    rules: RuleSet,
    tick_every: timedelta | None = None,
    *,
    until: datetime | None = None,
    park_for: timedelta = timedelta(days=1),
    progress: Callable[[int, int], None] | None = None,
    progress_every: int = 50_000,
    presorted: int | None = None,
) -> ReplayResult:
    """Run ``(topic, event)`` pairs in event-time order; tick every account as time passes.

    ``progress(done, total)`` is called every ``progress_every`` events, so a caller
    can report on long files; it must not influence the result. ``presorted`` is the
    number of events of an input already in (event time, event id) order, stable (an
    external sort's): it is streamed instead of sorted in memory.
    """
    ordered: Iterable[InputEvent]
    if presorted is None:
        ordered = sorted((e for _, e in events), key=lambda e: (e.occurred_at, e.event_id))
        total = len(ordered)
    else:
        ordered, total = (e for _, e in events), presorted
    tick_every = tick_every or config.tick_every
    run = _Replay(SignalProcessor(config, rules), Attribution(park_for), tick_every)
    first = last = None
    done = 0
    for done, event in enumerate(ordered, 1):
        first = first or event.occurred_at
        last = event.occurred_at
        run.advance(event.occurred_at)
        run.deliver(event)
        if progress is not None and done % progress_every == 0:
            progress(done, total)
    if last is not None:
        run.advance(until or last + tick_every)
    by_rule = Counter(t.rule_id for t in run.triggers if t.revision_of is None)
    summary = ReplaySummary(
        events=done,
        accounts=len(run.states),
        triggers_by_rule=dict(sorted(by_rule.items())),
        rejections_by_kind=dict(sorted(Counter(r.kind for r in run.rejections).items())),
        revisions=sum(1 for t in run.triggers if t.revision_of is not None),
        health_bands=run.final_bands(),
        commands=dict(sorted(run.notes.items())),
        first_event=first,
        last_event=last,
    )
    return ReplayResult(tuple(run.triggers), tuple(run.rejections), summary, run.states)


@dataclass(slots=True)
class _Ticks:
    """An account's tick memory (``signals.driver.TickMemory``); a worker keeps it in
    its table value."""

    tick_us: int = -1
    ticked: bool = False


class _Replay:
    def __init__(
        self, processor: SignalProcessor, attribution: Attribution, tick_every: timedelta
    ) -> None:
        self.processor = processor
        self.driver = AccountDriver(processor, TickSchedule(tick_every))
        self.attribution = attribution
        self.tick_every = tick_every
        self.states: dict[str, AccountState] = {}
        self.ticks: dict[str, _Ticks] = {}
        self.triggers: list[Trigger] = []
        self.rejections: list[Rejection] = []
        self.notes: Counter[str] = Counter()
        self.next_tick: datetime | None = None
        self.now = EPOCH

    def advance(self, to: datetime) -> None:
        """Tick every account at each of its boundaries up to ``to``."""
        if self.next_tick is None:
            self.next_tick = EPOCH + ((to - EPOCH) // self.tick_every + 1) * self.tick_every
        while self.next_tick <= to:
            self.now = self.next_tick
            boundary = micros(self.now)
            for account, state in self.states.items():
                for outcome in self.driver.catch_up(state, self.ticks[account], boundary):
                    self._collect(outcome)
            self.rejections += self.attribution.expire(self.now)
            self.next_tick += self.tick_every
        self.now = max(self.now, to)

    def final_bands(self) -> dict[str, int]:
        bands = Counter(
            self.processor.health(state, self.now).band for state in self.states.values()
        )
        return dict(sorted(bands.items()))

    def deliver(self, event: InputEvent) -> None:
        routed, unresolved = self.attribution.route(event, self.now)
        self.rejections += unresolved
        for each in routed:
            self._apply(each)

    def _apply(self, event: AccountEvent) -> None:
        """As a worker applies an event: note it in the account's schedule, run the
        account's ticks due by now, then the event."""
        account_id = event.account_id
        if account_id is None:  # never: routed events have their account
            return
        state = self.states.get(account_id)
        if state is None:
            state = self.states[account_id] = AccountState(account_id)
            self.ticks[account_id] = _Ticks()
        ticks = self.ticks[account_id]
        self.driver.schedule.arrive(ticks, micros(event.occurred_at))
        for outcome in self.driver.catch_up(state, ticks, micros(self.now)):
            self._collect(outcome)
        self._collect(self.processor.apply(state, event, self.now))

    def _collect(self, outcome: Outcome) -> None:
        self.triggers += outcome.triggers
        self.rejections += outcome.rejections
        self.notes.update(note.kind for note in outcome.notes)
