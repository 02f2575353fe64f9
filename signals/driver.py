"""The duties around the core that `pulse replay` and the live worker share.

The core (``signals.core``) folds one event or one tick into one account's state.
Around it, something must decide when each account is ticked, which account a
user-only event belongs to and for how long it may wait for one, and when a health
score is worth publishing. Both drivers of the core, the replay
(``signals.replay``) and the worker (``engine.worker``), take those decisions here,
so they cannot disagree:

- **Ticks, per account.** An account is ticked at every multiple of ``tick_every``
  since the epoch after the boundary at or before its first event, each boundary
  once, up to the clock of whoever drives it. A restarted or rebalanced worker
  resumes from the account's own memory of its last tick (``TickMemory``).
- **User links, by event time.** A user's link is the latest group call by event
  time (event id breaking ties), whatever order the calls arrive in
  (``link_wins``). An event of a user with no link yet waits; a link releases the
  events that waited less than ``park_for`` of event time before it, and the
  others are rejected as unresolved (``released``).
- **Health publication.** A snapshot is worth publishing on a band change, a move
  of enough points, or when the last one is a day old in event time
  (``worth_publishing``).

Pure: no Kafka, Redis, asyncio or clock; times are microseconds since the epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Protocol

from signals.core import Outcome, SignalProcessor
from signals.state import EPOCH, AccountState, micros

_MICROSECOND = timedelta(microseconds=1)
DAY_US = 86_400_000_000


class TickMemory(Protocol):
    """What an account remembers of its ticks (the engine keeps it beside the state)."""

    tick_us: int
    """The last boundary ticked, or before the first tick the boundary at or before
    the account's earliest event; -1 before any event."""
    ticked: bool
    """Whether a tick ran; until then an older event may still move ``tick_us`` back."""


class PublishedHealth(Protocol):
    """The last health snapshot published for an account."""

    score: float | None
    band: str
    at_us: int
    """Event time of that snapshot; -1 when none was published."""


class TickSchedule:
    """Each account's ticks: the multiples of ``every`` after its first event's boundary."""

    def __init__(self, every: timedelta) -> None:
        self.every_us = every // _MICROSECOND

    def boundary(self, at_us: int) -> int:
        """The latest tick boundary at or before ``at_us``."""
        return at_us // self.every_us * self.every_us

    def arrive(self, memory: TickMemory, occurred_us: int) -> None:
        """Note an event of the account: before its first tick, its earliest event's
        boundary is where its ticks start."""
        if memory.ticked:
            return
        first = self.boundary(occurred_us)
        memory.tick_us = first if memory.tick_us < 0 else min(memory.tick_us, first)

    def due(self, memory: TickMemory, upto_us: int) -> Iterator[int]:
        """The boundaries after the account's last tick up to ``upto_us``, in order."""
        if memory.tick_us < 0:
            return iter(())
        return iter(range(memory.tick_us + self.every_us, upto_us + 1, self.every_us))


class AccountDriver:
    """Runs an account's due ticks through the core, the same way for replay and live."""

    def __init__(self, processor: SignalProcessor, schedule: TickSchedule) -> None:
        self.processor = processor
        self.schedule = schedule

    def catch_up(self, state: AccountState, memory: TickMemory, upto_us: int) -> list[Outcome]:
        """Tick the account at each of its boundaries due up to ``upto_us`` (floored to
        a boundary); its memory moves to the last one ticked."""
        upto = self.schedule.boundary(upto_us)
        outcomes = [
            self.processor.tick(state, EPOCH + tick * _MICROSECOND)
            for tick in self.schedule.due(memory, upto)
        ]
        if outcomes:
            memory.tick_us, memory.ticked = upto, True
        return outcomes


def link_wins(current: tuple[int, str] | None, occurred_us: int, event_id: str) -> bool:
    """Whether a group call at ``occurred_us`` replaces the user's current link (its
    event time and id): the latest by event time wins, the larger id on a tie."""
    return current is None or (occurred_us, event_id) > current


def released(parked_at_us: int, link_us: int, park_us: int) -> bool:
    """Whether an event parked at ``parked_at_us`` is released by a link at ``link_us``
    (it waited less than ``park_us`` of event time), rather than rejected."""
    return link_us - parked_at_us < park_us


def expired(parked_at_us: int, now_us: int, park_us: int) -> bool:
    """Whether an event parked at ``parked_at_us`` has waited its time out by ``now_us``."""
    return now_us - parked_at_us >= park_us


def worth_publishing(
    last: PublishedHealth, score: float | None, band: str, as_of: datetime, points: float
) -> bool:
    """On a band change, on a move of at least ``points``, and at least daily."""
    if last.at_us < 0 or band != last.band:
        return True
    if score is not None and last.score is not None and abs(score - last.score) >= points:
        return True
    return micros(as_of) - last.at_us >= DAY_US
