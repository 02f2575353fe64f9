"""What a worker's saved states show of the events it applied: ``engine.verify``'s
check that no event was lost.

Each saved state holds the ids of the events it applied (its dedup memory) for the
lateness bound behind its clock, and a worker saves each account once per commit
window. An event is lost when no saved state of its account held its id although one
must have: a state that kept ids of the event's day and whose clock had passed it.
When the event clock runs further than the lateness bound within one window (a test
that compresses weeks into a minute), no saved state spans some days: their events
are unchecked, and their effect is judged by the final states alone.

Pure: no I/O.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from signals.config import SignalsConfig
from signals.state import AccountState, event_hash, fingerprint, micros
from topics.models import InputEvent, UserAlias, UserLink


def held_ids(state: AccountState) -> set[int]:
    """Fingerprints of the event ids this state has applied (within its dedup window) or holds."""
    ids: set[int] = set().union(*state.dedup.values())
    ids.update(fingerprint(event_hash(entry[1])) for entry in state.pending)
    return ids


@dataclass(frozen=True, slots=True)
class SavedSpan:
    """What one saved state can show: the ids of events it applied, from the oldest day
    its dedup memory still kept (``signals.ingest`` prunes ids the lateness bound behind
    the clock, and evicts whole days beyond ``dedup_capacity``) up to its clock."""

    pruned_day: int
    """The event day of its last prune; 0: never pruned, every id kept."""
    clock_us: int
    """Its clock; -1 when it never ticked."""
    oldest_day: int | None
    """The oldest day its dedup memory holds ids of."""
    newest_day: int | None
    ids: int

    @classmethod
    def of(cls, state: AccountState) -> SavedSpan:
        days = state.dedup
        return cls(
            state.pruned_day,
            state.clock_us,
            min(days, default=None),
            max(days, default=None),
            sum(map(len, days.values())),
        )

    def bounds(self, config: SignalsConfig) -> tuple[int, int]:
        """(first day, last µs) of the events this state must hold if they were applied
        before it: conservatively, the days kept whatever time of day the prune ran."""
        first = -1
        if self.pruned_day:
            latest_prune = datetime.fromordinal(self.pruned_day) + timedelta(
                days=1, microseconds=-1
            )
            first = (latest_prune - config.lateness_bound).toordinal()
        if self.oldest_day is not None and self.ids >= config.dedup_capacity * 0.9:
            first = max(first, self.oldest_day)  # older days may have been evicted
        if self.clock_us >= 0:
            last = self.clock_us
        elif self.newest_day is not None:  # never ticked: up to the newest applied day
            last = micros(datetime.fromordinal(self.newest_day + 1).replace(tzinfo=UTC)) - 1
        else:
            last = -1
        return first, last


def lost_events(
    events: Sequence[tuple[str, InputEvent]],
    skipped: Set[str],
    held: Mapping[str, set[int]],
    spans: Mapping[str, Sequence[SavedSpan]] | None,
    config: SignalsConfig,
) -> tuple[int, int, list[str]]:
    """Valid events the replay applies (but ``skipped`` ids) whose id no saved state of
    their account held: (checked, unchecked, lost). With ``spans``, an event no saved
    state spans is unchecked; without, every event is looked for.

    Events without an account (user links, user-only usage) are resolved inside the
    worker and not looked for here; their effect shows in the final states.
    """
    reach = {} if spans is None else {a: _Spans(s, config) for a, s in spans.items()}
    checked, unchecked, lost = 0, 0, []
    seen: set[tuple[str, str]] = set()
    for _, event in events:
        if isinstance(event, UserLink | UserAlias) or event.account_id is None:
            continue
        key = (event.account_id, event.event_id)
        if event.event_id in skipped or key in seen:
            continue
        seen.add(key)
        if fingerprint(event_hash(event.event_id)) in held.get(event.account_id, ()):
            checked += 1
            continue
        span = reach.get(event.account_id)
        if spans is not None and (span is None or not span.covers(event.occurred_at)):
            unchecked += 1
            continue
        checked += 1
        lost.append(f"{event.account_id}/{event.event_id}")
    return checked, unchecked, lost


class _Spans:
    """One account's saved states as (first day, last µs) bounds, to ask whether any
    of them must hold an event of a given time."""

    def __init__(self, saved: Iterable[SavedSpan], config: SignalsConfig) -> None:
        bounds = sorted(span.bounds(config) for span in saved)
        self._firsts = [first for first, _ in bounds]
        self._reach: list[int] = []  # the latest `last` among states from the first on
        for _, last in bounds:
            self._reach.append(max(last, self._reach[-1]) if self._reach else last)

    def covers(self, moment: datetime) -> bool:
        """Whether some saved state keeps ids of ``moment``'s day and its clock had passed it."""
        i = bisect_right(self._firsts, moment.toordinal())
        return i > 0 and self._reach[i - 1] >= micros(moment)
