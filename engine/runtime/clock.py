"""The event clock's decisions, pure: given what was read, what the broker reported,
what senders announced and the monotonic time, it answers; the worker does the I/O.

A partition's event clock is the lowest watermark of its input topics that still have
unread messages on the broker: a caught-up topic cannot bring anything older. A topic
that ran dry may just have a slower producer, so it still holds the clock for
``IDLE_SECONDS`` (Kafka Streams' max.task.idle.ms), and after that until the broker,
asked at most once per ``IDLE_SECONDS``, confirms it has nothing more. Events that
come through an internal topic were sent by other agent partitions, which announce
their own watermarks there; a reader's clock never passes the lowest announcement of
a sender that is not idle (watermarks across a shuffle, as in Flink).

Times: watermarks in µs since the epoch (-1: nothing seen), ``now`` in monotonic
seconds; nothing here reads a clock, awaits or touches a client.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

IDLE_SECONDS = 2.0
"""How long a caught-up topic may still hold its partition's event clock back."""
CLOCK_NUDGE_SECONDS = 1.0
"""How often an event-clock worker re-checks its clock without traffic, and the
heartbeat of a sender's announcements."""
ANNOUNCE_SECONDS = 0.5
"""How often, at most, a sender announces a watermark that moved (and at least every
CLOCK_NUDGE_SECONDS, so a restarted reader hears every sender again quickly)."""


@dataclass(slots=True)
class Mark:
    """How far one input topic of one partition has got, for the event clock."""

    watermark: int = -1
    """Highest event time seen (µs since the epoch)."""
    processed: int = -1
    """Offset of the last message handled."""
    empty_since: float | None = None
    """Since when (monotonic) this topic, caught up, has held the clock back."""
    end: int = 0
    """End offset the broker last reported (fetches do not report one for empty partitions)."""
    checked_at: float = float("-inf")
    """When (monotonic) the broker last confirmed it had nothing more."""

    def read(self, offset: int, occurred_us: int | None) -> None:
        """A message at ``offset`` (with an event at ``occurred_us``, if it had one) was handled."""
        if occurred_us is not None:
            self.watermark = max(self.watermark, occurred_us)
        self.processed, self.empty_since = offset, None

    def behind(self, highwater: int | None, committed: int | None) -> bool:
        """Whether the broker holds messages of this topic not processed yet.

        ``highwater``: the end offset the consumer's last fetch saw (None: not known);
        ``committed``: the group's committed position, the next offset to read (None:
        never committed). Messages before it were processed by an earlier run.
        """
        end = self.end if highwater is None else max(highwater, self.end)
        done = max(self.processed, -1 if committed is None else committed - 1)
        return done + 1 < end


def holding_back(
    marks: Mapping[str, Mark], behind: Iterable[str], now: float
) -> tuple[int, list[str]]:
    """The lowest watermark among the topics with unread data and the caught-up topics
    still within their idle allowance; and the caught-up topics past their allowance
    that hold the clock only if the broker says they have more (ask, then ``confirm``)."""
    behind = set(behind)
    frontier = min(marks[t].watermark for t in behind)
    low = frontier
    ask: list[str] = []
    for topic, mark in marks.items():
        if topic in behind or mark.watermark >= frontier:
            mark.empty_since = None
            continue
        if mark.empty_since is None:
            mark.empty_since = now
        if now - mark.empty_since < IDLE_SECONDS:
            low = min(low, mark.watermark)
        elif now - mark.checked_at >= IDLE_SECONDS:
            mark.checked_at = now
            ask.append(topic)
    return low, ask


def confirm(mark: Mark, end: int | None, committed: int | None, highwater: int | None) -> bool:
    """After asking the broker for a quiet topic's end offset (None: could not tell):
    whether it holds the clock after all."""
    if end is None:
        return True  # cannot tell: keep holding the clock, ask again later
    mark.end = max(mark.end, end)
    if mark.behind(highwater, committed):
        mark.empty_since = None
        return True
    return False


class Heard:
    """What one reader partition heard from the senders writing to its internal topic."""

    def __init__(self) -> None:
        self._senders: dict[str, tuple[int, float | None]] = {}
        """sender -> (watermark it last announced, since when (monotonic) idle, or None)"""

    def hear(self, sender: str, watermark: int, *, idle: bool, now: float) -> None:
        since = None
        if idle:
            before = self._senders.get(sender)
            since = before[1] if before and before[1] is not None else now
        self._senders[sender] = (watermark, since)

    def bound(self, senders: Iterable[str], now: float) -> int | None:
        """The lowest watermark announced by the senders that may still send something
        older: -1 while some sender has not been heard from; None when every sender has
        been idle (caught up) for IDLE_SECONDS, the allowance a direct topic gets too."""
        low: int | None = None
        for sender in senders:
            entry = self._senders.get(sender)
            if entry is None:
                return -1
            watermark, idle_since = entry
            if idle_since is None or now - idle_since < IDLE_SECONDS:
                low = watermark if low is None else min(low, watermark)
        return low

    def highest(self) -> int:
        return max((w for w, _ in self._senders.values()), default=-1)


@dataclass(slots=True)
class Announcer:
    """When a sender tells its readers how far it has got.

    Throttled to one announcement per ANNOUNCE_SECONDS while the watermark moves, with
    a heartbeat every CLOCK_NUDGE_SECONDS; waking from idle is announced at once,
    before the event that woke it is forwarded.
    """

    at: float = float("-inf")
    watermark: int = -1
    idle: bool = False

    def due(self, watermark: int, *, idle: bool, now: float) -> bool:
        """Whether to announce now; if so, it is taken as announced."""
        since = now - self.at
        moved = (watermark, idle) != (self.watermark, self.idle)
        if not (
            (self.idle and not idle)
            or since >= CLOCK_NUDGE_SECONDS
            or (moved and since >= ANNOUNCE_SECONDS)
        ):
            return False
        self.at, self.watermark, self.idle = now, watermark, idle
        return True
