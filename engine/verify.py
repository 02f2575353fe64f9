"""Checking a live run against the replay of its input: nothing lost, missed or invented.

A worker on the event clock must end where a replay of the same input ends
(``signals.replay``): the same trigger ids, and for every account the same state.
``verify`` compares what a run left behind (every message on the output topics,
the account states and their history on the state changelog, optionally the
Redis view) with that replay:

- lost: a valid input event that no saved state of its account ever held, or an
  account whose final state differs from the replay's. A state keeps event ids for
  the lateness bound behind its clock, and a worker saves it once per commit window:
  an event whose day no saved state spans (the clock ran further than the lateness
  bound within one window, as in a test that compresses weeks into a minute) cannot
  be looked for, and is counted as unchecked rather than lost;
- missed: a trigger id the replay produces that no output topic carries;
- invented: a trigger id on an output topic that the replay does not produce;
- duplicates: deliveries of an id beyond its first (allowed: delivery is
  at-least-once and consumers deduplicate by id), counted and reported;
- cancellation records (the outcomes topic) are held to the same: each one the
  replay makes is delivered, and none it does not make.

Pure: the caller reads the topics (``engine.verify_cli`` does, for ``pulse verify``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from engine.envelope import unpack
from engine.verify_history import SavedSpan, held_ids, lost_events
from signals.config import SignalsConfig
from signals.replay import replay
from signals.rules import RuleSet
from signals.state import AccountState, from_micros
from topics.catalogue import TopicKind
from topics.codec import decode_output
from topics.errors import PulseValidationError
from topics.models import Cancellation, DeadLetter, HealthSnapshot, InputEvent, Trigger

TRIGGER_KINDS = (TopicKind.CHURN_RISK, TopicKind.EXPANSION, TopicKind.ADVOCACY)
OUTPUT_KINDS = (*TRIGGER_KINDS, TopicKind.HEALTH, TopicKind.OUTCOMES, TopicKind.DEAD_LETTER)
EXPECTED_LETTERS = frozenset(
    {"validation", "late", "unresolved_user", "unresolved_customer", "invalid_quantity"}
)
"""Dead-letter reasons about the input itself; any other reason is the worker's failure."""
_EXAMPLES = 10
_SKIPPED_KINDS = frozenset({"late", "unresolved_user", "unresolved_customer", "invalid_quantity"})
"""Replay rejections that leave an event out of state by design."""


def changelog_topic(app_id: str) -> str:
    """The account-state table's changelog (faust: ``{app id}-{table}-changelog``; the
    table is engine.runtime.pipeline.STATE_TABLE)."""
    return f"{app_id}-account-state-changelog"


def event_clock_config(config: SignalsConfig) -> SignalsConfig:
    """The configuration a worker on the event clock runs: a reorder window of at least
    a microsecond (``PulseWorker.__init__``), so its held events match the replay's."""
    if config.reorder_window:
        return config
    return config.model_copy(update={"reorder_window": timedelta(microseconds=1)})


@dataclass(slots=True)
class RunOutput:
    """Everything read back from a run."""

    triggers: list[Trigger] = field(default_factory=list)
    """Every delivery on the trigger topics, duplicates included."""
    health: list[HealthSnapshot] = field(default_factory=list)
    """Health snapshots in topic order (one account's are in one partition, in order)."""
    dead_letters: list[DeadLetter] = field(default_factory=list)
    cancellations: list[Cancellation] = field(default_factory=list)
    """Every delivery on the outcomes topic, duplicates included."""
    undecodable: int = 0
    """Output messages that are not what their topic carries."""
    states: dict[str, AccountState] | None = None
    """Each account's latest state on the changelog; None when it was not read."""
    held: dict[str, set[int]] | None = None
    """Per account, fingerprints of every event id any saved state of it held (applied,
    within the dedup window, or waiting in the reorder window); None when not read, or
    when compaction removed states from the changelog (``compacted``)."""
    spans: dict[str, list[SavedSpan]] | None = None
    """Per account, what each saved state could still show of the events before it
    (``SavedSpan``); None when every event is to be looked for."""
    compacted: int = 0
    """Changelog records compaction removed: the states left are each account's latest,
    so which events a state ever held can no longer be told (lost: not counted)."""
    views: dict[str, Mapping[str, Any]] | None = None
    """Account view documents from Redis; None when not read."""

    @classmethod
    def decode(
        cls,
        messages: Mapping[TopicKind, Iterable[bytes]],
        changelog: Iterable[bytes | None] | None = None,
        *,
        compacted: int = 0,
    ) -> RunOutput:
        """Decode output-topic values (by topic kind) and the state changelog's values;
        ``compacted``: how many changelog records compaction had removed."""
        run = cls(compacted=compacted)
        for kind in OUTPUT_KINDS:
            for value in messages.get(kind, ()):
                try:
                    decoded = decode_output(kind, value)
                except PulseValidationError:
                    run.undecodable += 1
                    continue
                if isinstance(decoded, Trigger):
                    run.triggers.append(decoded)
                elif isinstance(decoded, HealthSnapshot):
                    run.health.append(decoded)
                elif isinstance(decoded, Cancellation):
                    run.cancellations.append(decoded)
                else:
                    run.dead_letters.append(decoded)
        if changelog is not None:
            run.states, run.held, run.spans = {}, defaultdict(set), defaultdict(list)
            for stored in changelog:
                if stored is None:  # a tombstone: the worker never deletes a state
                    continue
                _, state = unpack(stored)
                run.states[state.account_id] = state
                run.held[state.account_id].update(held_ids(state))
                run.spans[state.account_id].append(SavedSpan.of(state))
            if compacted:
                run.held = run.spans = None
        return run


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The figures of one verification; ``ok`` when nothing was lost, missed or invented."""

    events: int
    """Valid input events (decoded) given to the replay."""
    accounts: int
    expected_triggers: int
    deliveries: int
    """Trigger messages read, duplicates included."""
    distinct_triggers: int
    missed: tuple[str, ...]
    invented: tuple[str, ...]
    altered: tuple[str, ...]
    """Ids delivered with other content than the replay's (``emitted_at`` aside)."""
    duplicates: int
    """Deliveries beyond the first of each id."""
    duplicated_ids: int
    events_checked: int | None
    """Events whose id was looked for in the state history; None without a history."""
    events_unchecked: int
    """Events no saved state spans (``SavedSpan``): saved too rarely to tell."""
    events_lost: int | None
    lost_examples: tuple[str, ...]
    changelog_compacted: int
    """Changelog records compaction removed (then events lost are not counted)."""
    states_checked: int | None
    """Accounts whose final state was compared; None without states."""
    state_mismatches: dict[str, tuple[str, ...]]
    """Account -> what differs from the replay's final state ("missing": no state)."""
    state_clocks: dict[str, str]
    """Account -> its clock and held events against the replay's, where states differ."""
    unknown_accounts: tuple[str, ...]
    """Accounts with a state or health snapshot that the replay has never seen."""
    dead_letters: dict[str, int]
    worker_errors: int
    """Dead letters for a reason other than the input itself (e.g. ``internal``)."""
    invalid_inputs: int | None
    dead_lettered_invalid: int
    """Distinct inputs (topic, partition, offset) dead-lettered as invalid."""
    undecodable_outputs: int
    views_checked: int | None
    stale_views: tuple[str, ...]
    """Accounts whose Redis view does not show their latest health snapshot."""
    expected_cancellations: int = 0
    cancellations_missed: tuple[str, ...] = ()
    cancellations_invented: tuple[str, ...] = ()
    """Cancellation record ids the replay makes and no delivery carries, and the reverse."""
    cancellations_altered: tuple[str, ...] = ()
    """Record ids delivered with other content than the replay's (``emitted_at`` aside)."""
    cancellation_duplicates: int = 0

    @property
    def ok(self) -> bool:
        return not (
            self.missed
            or self.invented
            or self.altered
            or self.events_lost
            or self.state_mismatches
            or self.unknown_accounts
            or self.worker_errors
            or self.undecodable_outputs
            or self.stale_views
            or self.invalid_unmatched
            or self.cancellations_missed
            or self.cancellations_invented
            or self.cancellations_altered
        )

    @property
    def invalid_unmatched(self) -> int:
        """Invalid inputs minus distinct validation dead letters, either way; 0 if unknown."""
        if self.invalid_inputs is None:
            return 0
        return abs(self.invalid_inputs - self.dead_lettered_invalid)

    def summary(self) -> str:
        """A few readable lines: the figures, then examples of whatever failed."""

        def some(ids: Sequence[str]) -> str:
            shown = ", ".join(ids[:_EXAMPLES])
            return f" ({shown}{', ...' if len(ids) > _EXAMPLES else ''})" if ids else ""

        lost = "not counted" if self.events_lost is None else f"{self.events_lost}"
        if self.changelog_compacted:
            lost += (
                f" (compaction removed {self.changelog_compacted} changelog records, so "
                "only each account's latest state is left to compare)"
            )
        lines = [
            f"verify: {'OK' if self.ok else 'FAILED'}",
            f"  input events        {self.events} valid, {self.accounts} accounts"
            + (
                ""
                if self.invalid_inputs is None
                else f", {self.invalid_inputs} invalid ({self.dead_lettered_invalid} dead-lettered)"
            ),
            f"  events lost         {lost}"
            + ("" if self.events_checked is None else f" of {self.events_checked} checked")
            + (
                f"; {self.events_unchecked} unchecked (no saved state kept their day: the "
                "event clock ran past the lateness bound within one commit window)"
                if self.events_unchecked
                else ""
            )
            + some(self.lost_examples),
            "  states              "
            + (
                "not read"
                if self.states_checked is None
                else f"{self.states_checked} compared, {len(self.state_mismatches)} differ"
            ),
            f"  triggers            {self.expected_triggers} expected, "
            f"{self.distinct_triggers} delivered ({self.deliveries} messages)",
            f"  missed              {len(self.missed)}{some(self.missed)}",
            f"  invented            {len(self.invented)}{some(self.invented)}",
            f"  altered             {len(self.altered)}{some(self.altered)}",
            f"  duplicate deliveries {self.duplicates} (of {self.duplicated_ids} ids)",
            f"  cancellations       {self.expected_cancellations} expected, "
            f"{len(self.cancellations_missed)} missed{some(self.cancellations_missed)}, "
            f"{len(self.cancellations_invented)} invented{some(self.cancellations_invented)}, "
            f"{len(self.cancellations_altered)} altered{some(self.cancellations_altered)}, "
            f"{self.cancellation_duplicates} duplicate deliveries",
            "  dead letters        "
            + (", ".join(f"{k} {n}" for k, n in sorted(self.dead_letters.items())) or "none")
            + (f"; {self.worker_errors} from worker errors" if self.worker_errors else ""),
        ]
        if self.undecodable_outputs:
            lines.append(f"  undecodable outputs {self.undecodable_outputs}")
        if self.unknown_accounts:
            lines.append(
                f"  unknown accounts    {len(self.unknown_accounts)}{some(self.unknown_accounts)}"
            )
        if self.views_checked is not None:
            lines.append(
                f"  redis views         {self.views_checked} checked, "
                f"{len(self.stale_views)} stale{some(self.stale_views)}"
            )
        for account, fields in list(self.state_mismatches.items())[:_EXAMPLES]:
            clocks = self.state_clocks.get(account, "")
            lines.append(f"  state of {account} differs in: {', '.join(fields)}; {clocks}")
        return "\n".join(lines)


def verify(
    events: Sequence[tuple[str, InputEvent]],
    run: RunOutput,
    config: SignalsConfig,
    rules: RuleSet,
    *,
    event_clock: bool = True,
    invalid_inputs: int | None = None,
    until: datetime | None = None,
) -> VerifyReport:
    """Replay ``events`` (the valid input, as ``(topic, event)``) and compare the run with it.

    ``until`` defaults to the latest event time, where a worker's event clock stops.
    ``invalid_inputs``, when given, is how many input messages did not decode: each
    must be dead-lettered (once or more).
    """
    if event_clock:
        config = event_clock_config(config)
    if until is None and events:
        until = max(event.occurred_at for _, event in events)
    result = replay(events, config, rules, until=until)
    expected = {t.trigger_id: t for t in result.triggers}

    deliveries = Counter(t.trigger_id for t in run.triggers)
    altered = _altered(run.triggers, expected, lambda t: t.trigger_id)
    skipped = {r.event_id for r in result.rejections if r.kind in _SKIPPED_KINDS}
    events_checked, unchecked, lost = (
        (None, 0, None)
        if run.held is None
        else lost_events(events, skipped, run.held, run.spans, config)
    )
    mismatches = {} if run.states is None else _state_mismatches(result.states, run.states)
    clocks = {
        account: _clocks(run.states[account], result.states[account])
        for account in mismatches
        if run.states is not None and account in run.states
    }
    known = set(result.states)
    unknown = {s.account_id for s in run.health} - known
    if run.states is not None:
        unknown |= set(run.states) - known
    letters = Counter(d.error_kind for d in run.dead_letters)
    invalid_letters = {
        (d.source_topic, d.partition, d.offset)
        for d in run.dead_letters
        if d.error_kind == "validation"
    }
    stale = None if run.views is None else _stale_views(run.health, run.views)
    ended = {c.cancellation_id: c for c in result.cancellations}
    delivered_ends = Counter(c.cancellation_id for c in run.cancellations)
    altered_ends = _altered(run.cancellations, ended, lambda c: c.cancellation_id)
    return VerifyReport(
        events=len(events),
        accounts=len(result.states),
        expected_triggers=len(expected),
        deliveries=len(run.triggers),
        distinct_triggers=len(deliveries),
        missed=tuple(sorted(set(expected) - set(deliveries))),
        invented=tuple(sorted(set(deliveries) - set(expected))),
        altered=tuple(altered),
        duplicates=sum(n - 1 for n in deliveries.values()),
        duplicated_ids=sum(1 for n in deliveries.values() if n > 1),
        events_checked=events_checked,
        events_unchecked=unchecked,
        events_lost=None if lost is None else len(lost),
        lost_examples=tuple(lost or ())[:_EXAMPLES],
        changelog_compacted=run.compacted,
        states_checked=None if run.states is None else len(result.states),
        state_mismatches=mismatches,
        state_clocks=clocks,
        unknown_accounts=tuple(sorted(unknown)),
        dead_letters=dict(sorted(letters.items())),
        worker_errors=sum(n for kind, n in letters.items() if kind not in EXPECTED_LETTERS),
        invalid_inputs=invalid_inputs,
        dead_lettered_invalid=len(invalid_letters),
        undecodable_outputs=run.undecodable,
        views_checked=None if run.views is None else len(run.views),
        stale_views=() if stale is None else tuple(stale),
        expected_cancellations=len(ended),
        cancellations_missed=tuple(sorted(set(ended) - set(delivered_ends))),
        cancellations_invented=tuple(sorted(set(delivered_ends) - set(ended))),
        cancellations_altered=tuple(altered_ends),
        cancellation_duplicates=sum(n - 1 for n in delivered_ends.values()),
    )


def _content(message: Trigger | Cancellation) -> dict[str, Any]:
    return message.model_dump(mode="json", exclude={"emitted_at"})


_Sent = TypeVar("_Sent", Trigger, Cancellation)


def _altered(
    delivered: Iterable[_Sent], expected: Mapping[str, _Sent], id_of: Callable[[_Sent], str]
) -> list[str]:
    """Ids delivered with other content than the replay's (``emitted_at`` aside)."""
    return sorted(
        {
            id_of(message)
            for message in delivered
            if id_of(message) in expected
            and _content(message) != _content(expected[id_of(message)])
        }
    )


def _state_mismatches(
    expected: Mapping[str, AccountState], got: Mapping[str, AccountState]
) -> dict[str, tuple[str, ...]]:
    mismatches: dict[str, tuple[str, ...]] = {}
    for account, replayed in sorted(expected.items()):
        stored = got.get(account)
        if stored is None:
            mismatches[account] = ("missing",)
            continue
        have, want = _without_redelivered(stored), _without_redelivered(replayed)
        if have != want:
            # The canonical fields behind AccountState.__eq__, to say which differ.
            a, b = have._fields(True), want._fields(True)
            mismatches[account] = tuple(sorted(k for k in a if a[k] != b.get(k)))
    return mismatches


def _clocks(have: AccountState, want: AccountState) -> str:
    """Where the account's clock stands and how many events it holds, against the replay."""

    def clock(state: AccountState) -> str:
        return "never ticked" if state.clock_us < 0 else from_micros(state.clock_us).isoformat()

    return (
        f"clock {clock(have)} (replay {clock(want)}), "
        f"held {len(have.pending)} (replay {len(want.pending)})"
    )


def _without_redelivered(state: AccountState) -> AccountState:
    """The state with each held event once: an event delivered again (at-least-once)
    while its first copy still waits in the reorder window is held twice, and dropped
    as a duplicate when released."""
    unique = {(entry[0], entry[1]): entry for entry in state.pending}
    if len(unique) == len(state.pending):
        return state
    copy = AccountState.from_bytes(state.to_bytes())
    copy.pending = list(unique.values())
    return copy


def _stale_views(
    health: Sequence[HealthSnapshot], views: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    latest: dict[str, HealthSnapshot] = {}
    for snapshot in health:
        latest[snapshot.account_id] = snapshot
    stale = []
    for account, snapshot in sorted(latest.items()):
        view = views.get(account)
        shown = None if view is None else view.get("health")
        if not isinstance(shown, dict) or HealthSnapshot.model_validate(shown) != snapshot:
            stale.append(account)
    return stale
