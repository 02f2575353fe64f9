"""Replaying history through the pure core with an event-time clock.

Events run in event-time order (stable sort by occurred_at, event_id); the clock ticks
every ``tick_every`` (default: the config's) as event time passes, so absence rules
fire exactly as they would have live. The same events, configuration and rules give
the same trigger ids.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from signals.attribution import Attribution
from signals.config import SignalsConfig
from signals.core import Outcome, SignalProcessor
from signals.driver import AccountDriver, TickSchedule
from signals.errors import Rejection
from signals.ingest import AccountEvent
from signals.rules import RuleSet
from signals.state import EPOCH, AccountState, micros
from topics.models import Cancellation, InputEvent, Trigger


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
    cancellations: int = 0
    """Cancellation records (``ReplayResult.cancellations``), trial lapses included."""


@dataclass(frozen=True, slots=True)
class ReplayResult:
    triggers: tuple[Trigger, ...]
    rejections: tuple[Rejection, ...]
    summary: ReplaySummary
    states: dict[str, AccountState] = field(repr=False)
    cancellations: tuple[Cancellation, ...] = ()
    """Each cancellation's outcome record, as a worker publishes it."""


_T = TypeVar("_T")

Position = tuple[int, int, int, int, int]
"""Where in a whole replay an output was made: (input event, phase, tick boundary or
routed event, account's first-seen rank, sequence). Sorting the outputs of every shard
by it gives the order of one unsharded replay."""


@dataclass(frozen=True, slots=True)
class Shard:
    """The accounts one of ``count`` replays applies: ``crc32(id) % count == index``.

    Every shard reads every event and attributes it (links are global); only its own
    accounts' events are applied, so the shards' work on accounts adds up to one replay's.
    Shard 0 also keeps what attribution itself rejects.
    """

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            msg = f"shard {self.index} of {self.count} does not exist"
            raise ValueError(msg)

    def owns(self, account_id: str) -> bool:
        return zlib.crc32(account_id.encode()) % self.count == self.index


@dataclass(frozen=True, slots=True)
class Elsewhere:
    """An event of an account another shard applies, which the reader need not decode:
    a shard needs only its time (the clock ticks by it) and its account (accounts are
    ticked in first-seen order). Only events that go straight to their account may be
    passed so (not ``signals.resolve.through_links``)."""

    occurred_at: datetime
    account_id: str


@dataclass(frozen=True, slots=True)
class ShardResult:
    """One shard's replay, each output with its ``Position``, ready to merge."""

    result: ReplayResult
    trigger_at: tuple[Position, ...]
    rejection_at: tuple[Position, ...]
    ranks: dict[str, int]
    """Every account's first-seen rank in the whole replay."""
    cancellation_at: tuple[Position, ...] = ()


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
    return replay_shard(
        events,
        config,
        rules,
        None,
        tick_every,
        until=until,
        park_for=park_for,
        progress=progress,
        progress_every=progress_every,
        presorted=presorted,
    ).result


def replay_shard(
    events: Iterable[tuple[str, InputEvent] | Elsewhere],
    config: SignalsConfig,
    rules: RuleSet,
    shard: Shard | None,
    tick_every: timedelta | None = None,
    *,
    until: datetime | None = None,
    park_for: timedelta = timedelta(days=1),
    progress: Callable[[int, int], None] | None = None,
    progress_every: int = 50_000,
    presorted: int | None = None,
) -> ShardResult:
    """``replay`` of one shard's accounts (all of them with ``None``); ``merge`` the
    shards' results for the replay of all. A presorted input may pass other shards'
    accounts' events as ``Elsewhere``."""
    ordered: Iterable[InputEvent | Elsewhere]
    if presorted is None:
        decoded = []
        for each in events:
            if isinstance(each, Elsewhere):
                msg = "events passed as Elsewhere need an input in event-time order (presorted)"
                raise ValueError(msg)
            decoded.append(each[1])
        decoded.sort(key=lambda e: (e.occurred_at, e.event_id))
        ordered, total = decoded, len(decoded)
    else:
        ordered = (e if isinstance(e, Elsewhere) else e[1] for e in events)
        total = presorted
    tick_every = tick_every or config.tick_every
    run = _Replay(SignalProcessor(config, rules), Attribution(park_for), tick_every, shard)
    first = last = None
    done = 0
    for done, event in enumerate(ordered, 1):
        first = first or event.occurred_at
        last = event.occurred_at
        run.input = done
        run.advance(event.occurred_at)
        if isinstance(event, Elsewhere):
            run.rank(event.account_id)
        else:
            run.deliver(event)
        if progress is not None and done % progress_every == 0:
            progress(done, total)
    if last is not None:
        run.input = done + 1
        run.advance(until or last + tick_every)
    result = _result(
        run.triggers,
        run.rejections,
        run.states,
        _Totals(done, run.final_bands(), run.notes, first, last),
        run.cancellations,
    )
    return ShardResult(
        result,
        tuple(run.trigger_at),
        tuple(run.rejection_at),
        run.ranks,
        tuple(run.cancellation_at),
    )


def merge(shards: Sequence[ShardResult]) -> ReplayResult:
    """One replay's result from its shards': outputs and states in the order a replay
    of every account would give them, summaries added up."""
    if not shards:
        msg = "no shards to merge"
        raise ValueError(msg)
    if len(shards) == 1:
        return shards[0].result
    triggers = _in_order([(s.trigger_at, s.result.triggers) for s in shards])
    rejections = _in_order([(s.rejection_at, s.result.rejections) for s in shards])
    cancellations = _in_order([(s.cancellation_at, s.result.cancellations) for s in shards])
    ranks = shards[0].ranks
    states = {account: state for shard in shards for account, state in shard.result.states.items()}
    ordered = {account: states[account] for account in sorted(states, key=ranks.__getitem__)}
    first = shards[0].result.summary
    bands: Counter[str] = Counter()
    notes: Counter[str] = Counter()
    for shard in shards:
        bands.update(shard.result.summary.health_bands)
        notes.update(shard.result.summary.commands)
    totals = _Totals(first.events, dict(bands), notes, first.first_event, first.last_event)
    return _result(triggers, rejections, ordered, totals, cancellations)


def _in_order(parts: list[tuple[tuple[Position, ...], tuple[_T, ...]]]) -> list[_T]:
    """The shards' outputs in one replay's order."""
    positioned = [pair for at, items in parts for pair in zip(at, items, strict=True)]
    return [item for _, item in sorted(positioned, key=lambda pair: pair[0])]


@dataclass(frozen=True, slots=True)
class _Totals:
    events: int
    bands: dict[str, int]
    notes: Counter[str]
    first: datetime | None
    last: datetime | None


def _result(
    triggers: Sequence[Trigger],
    rejections: Sequence[Rejection],
    states: dict[str, AccountState],
    totals: _Totals,
    cancellations: Sequence[Cancellation],
) -> ReplayResult:
    by_rule = Counter(t.rule_id for t in triggers if t.revision_of is None)
    summary = ReplaySummary(
        events=totals.events,
        accounts=len(states),
        triggers_by_rule=dict(sorted(by_rule.items())),
        rejections_by_kind=dict(sorted(Counter(r.kind for r in rejections).items())),
        revisions=sum(1 for t in triggers if t.revision_of is not None),
        health_bands=dict(sorted(totals.bands.items())),
        commands=dict(sorted(totals.notes.items())),
        first_event=totals.first,
        last_event=totals.last,
        cancellations=len(cancellations),
    )
    return ReplayResult(tuple(triggers), tuple(rejections), summary, states, tuple(cancellations))


@dataclass(slots=True)
class _Ticks:
    """An account's tick memory (``signals.driver.TickMemory``); a worker keeps it in
    its table value."""

    tick_us: int = -1
    ticked: bool = False


_LAST = 1 << 62
"""A rank after every account's: attribution's own rejections at a tick boundary come
after the accounts' ticks."""


class _Replay:
    def __init__(
        self,
        processor: SignalProcessor,
        attribution: Attribution,
        tick_every: timedelta,
        shard: Shard | None,
    ) -> None:
        self.processor = processor
        self.driver = AccountDriver(processor, TickSchedule(tick_every))
        self.attribution = attribution
        self.tick_every = tick_every
        self.shard = shard
        self.states: dict[str, AccountState] = {}
        self.ticks: dict[str, _Ticks] = {}
        self.triggers: list[Trigger] = []
        self.rejections: list[Rejection] = []
        self.trigger_at: list[Position] = []
        self.rejection_at: list[Position] = []
        self.cancellations: list[Cancellation] = []
        self.cancellation_at: list[Position] = []
        self.ranks: dict[str, int] = {}
        self.notes: Counter[str] = Counter()
        self.next_tick: datetime | None = None
        self.now = EPOCH
        self.input = 0
        self.at: tuple[int, int, int, int] = (0, 0, 0, 0)
        self.sequence = 0

    def advance(self, to: datetime) -> None:
        """Tick every account at each of its boundaries up to ``to``."""
        if self.next_tick is None:
            self.next_tick = EPOCH + ((to - EPOCH) // self.tick_every + 1) * self.tick_every
        while self.next_tick <= to:
            self.now = self.next_tick
            boundary = micros(self.now)
            for account, state in self.states.items():
                self.at = (self.input, 0, boundary, self.ranks[account])
                for outcome in self.driver.catch_up(state, self.ticks[account], boundary):
                    self._collect(outcome)
            self.at = (self.input, 0, boundary, _LAST)
            self._refused(self.attribution.expire(self.now))
            self.next_tick += self.tick_every
        self.now = max(self.now, to)

    def final_bands(self) -> dict[str, int]:
        bands = Counter(
            self.processor.health(state, self.now).band for state in self.states.values()
        )
        return dict(sorted(bands.items()))

    def deliver(self, event: InputEvent) -> None:
        routed, unresolved = self.attribution.route(event, self.now)
        self.at = (self.input, 1, -1, 0)
        self._refused(unresolved)
        for index, each in enumerate(routed):
            self.at = (self.input, 1, index, 0)
            self._apply(each)

    def _apply(self, event: AccountEvent) -> None:
        """As a worker applies an event: note it in the account's schedule, run the
        account's ticks due by now, then the event."""
        account_id = event.account_id
        if account_id is None:  # never: routed events have their account
            return
        state = self.states.get(account_id)
        if state is None:
            self.rank(account_id)
            if self.shard is not None and not self.shard.owns(account_id):
                return
            state = self.states[account_id] = AccountState(account_id)
            self.ticks[account_id] = _Ticks()
        ticks = self.ticks[account_id]
        self.driver.schedule.arrive(ticks, micros(event.occurred_at))
        for outcome in self.driver.catch_up(state, ticks, micros(self.now)):
            self._collect(outcome)
        self._collect(self.processor.apply(state, event, self.now))

    def rank(self, account_id: str) -> None:
        """Note an account's first appearance: its rank orders the ticks of accounts."""
        if account_id not in self.ranks:
            self.ranks[account_id] = len(self.ranks)

    def _refused(self, rejections: list[Rejection]) -> None:
        """Attribution's own rejections: every shard attributes, shard 0 keeps them."""
        if rejections and (self.shard is None or self.shard.index == 0):
            self._note(self.rejections, self.rejection_at, rejections)

    def _collect(self, outcome: Outcome) -> None:
        self._note(self.triggers, self.trigger_at, outcome.triggers)
        self._note(self.rejections, self.rejection_at, outcome.rejections)
        self._note(self.cancellations, self.cancellation_at, outcome.cancellations)
        self.notes.update(note.kind for note in outcome.notes)

    def _note(self, into: list[_T], at: list[Position], items: Sequence[_T]) -> None:
        for item in items:
            into.append(item)
            at.append((*self.at, self.sequence))
            self.sequence += 1
