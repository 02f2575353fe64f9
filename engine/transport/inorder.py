"""Every input offset processed once, in order, and commits that cover only what was.

faust's consumer can hand an agent a partition's records with a hole in them, and
then commit past the hole: it drops fetched records of a partition it has paused
for a moment (``Consumer.getmany`` filters them out after the client already moved
past them), and when the next record comes it takes the jump in offsets for a "gap"
(the offsets of a compacted or transactional topic, which it may commit over). It
also hands over records read between resuming a partition and seeking it back to
its committed offset, and reads them again after the seek. The SIGKILL test saw
both: contiguous runs of input committed and never applied (issue 9).

So the agents keep their own cursor per input partition, starting at the group's
committed offset when the partition is assigned:

- the record at the cursor is processed and moves it on;
- a record below it was processed already (a re-read), and is skipped;
- a record above it means the consumer dropped the ones in between: the worker reads
  those itself, with a client of its own (``Worker._refetch``), processes them, and
  only then the record that revealed the hole.

Seeking faust's consumer back instead does not work reliably: a seek races with the
records faust has fetched already (each one handed over moves faust's own read
offset past the seek, so the re-read records are dropped again), and its
``seek_wait`` runs on the consumer's thread, which can wait on the agent that asked:
the SIGKILL test stalled that way in CI.

A partition's commit offset is its cursor as of the last batch whose outputs and
state the broker acknowledged (``committable``, read by engine.transport.faust_app's consumer)
and never faust's own reckoning of acknowledgements and gaps.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Iterable
from typing import Literal

from faust.types import TP


class Verdict(enum.Enum):
    PROCESS = "process"
    """At the cursor: process it (the cursor has moved past it)."""
    SEEN = "seen"
    """Below the cursor: processed before, skipped."""
    AHEAD = "ahead"
    """Above the cursor: the records from ``next_offset`` up to it were dropped; read
    them (``moved`` for each), then ``check`` this record again."""


StartOffsets = Callable[[list[TP]], Awaitable[dict[TP, int]]]


class InOrder:
    """Per input partition: the next offset to process, and what may be committed."""

    def __init__(self, start_offsets: StartOffsets) -> None:
        self._start_offsets = start_offsets
        self._next: dict[TP, int] = {}
        self.committable: dict[TP, int] = {}
        """TP -> offset to commit: the next one after what was processed and settled."""
        self.holes = 0
        """Holes found: runs of records the consumer skipped."""
        self.stranded = Stranded()
        self._generation = 0
        """Bumped by ``forget``: a lookup that spans it is thrown away."""

    async def check(self, tp: TP, offset: int, assigned: Callable[[], Iterable[TP]]) -> Verdict:
        """Where this record stands against its partition's cursor; moves the cursor
        past it when it is to be processed. ``assigned`` gives the partitions this worker
        owns, whose starting offsets are looked up together on the first record."""
        expected = self._next.get(tp)
        while expected is None:  # again if a rebalance came while it was looked up
            await self.start({tp, *assigned()})
            expected = self._next.get(tp)
        if offset == expected:
            self._next[tp] = offset + 1
            return Verdict.PROCESS
        if offset < expected:
            return Verdict.SEEN
        self.holes += 1
        return Verdict.AHEAD

    async def start(self, tps: Iterable[TP]) -> None:
        """Set the cursors of the partitions that have none (looked up together)."""
        missing = sorted({t for t in tps if t not in self._next})
        if missing:
            generation = self._generation
            found = await self._start_offsets(missing)
            if generation != self._generation:
                return  # partitions were revoked meanwhile: these offsets may be stale
            for tp, offset in found.items():
                self._next.setdefault(tp, offset)  # an agent may have set it meanwhile

    def cursor(self, tp: TP) -> int | None:
        """The partition's cursor, or None before ``start``/``check`` set it."""
        return self._next.get(tp)

    def next_offset(self, tp: TP) -> int:
        """The partition's cursor (known once a record of it was checked)."""
        return self._next[tp]

    def moved(self, tp: TP, offset: int) -> None:
        """The records before ``offset`` were processed (read to fill a hole), or are
        gone (deleted by retention before this group read them)."""
        if offset > self._next.get(tp, -1):
            self._next[tp] = offset

    def settled(self, done: dict[TP, int]) -> None:
        """A batch's outputs and state are on the broker: its offsets may be committed."""
        for tp, offset in done.items():
            if offset > self.committable.get(tp, -1):
                self.committable[tp] = offset

    def forget(self) -> None:
        """Partitions were revoked: cursors restart from the committed offsets."""
        self._next.clear()
        self.committable.clear()
        self.stranded.forget()
        self._generation += 1


STRANDED_SECONDS = 5.0
"""How long a partition's cursor may stand still below the broker's end offset, with
the agents waiting for input and nothing queued, before the worker reads it again."""
STRANDED_SEEKS = 3
"""Seeks back to one cursor before the worker gives up on it and says so: what lies
between it and the end is then no record at all (transaction markers, or records
deleted by retention), or the broker cannot serve it."""


class Stranded:
    """Partitions whose records faust's consumer dropped with nothing after them.

    A hole in the middle of a partition shows itself when the next record arrives
    (``Verdict.AHEAD``). Records dropped at a partition's end do not: the consumer's
    position is past them and nothing more comes, so the agent waits forever and the
    group's lag never drains (the SIGKILL test caught this). A partition is stranded
    when the broker has records at or after its cursor, the agents are waiting for
    input with nothing queued, and the cursor has not moved for ``after`` seconds. The
    worker then seeks the consumer back to the cursor; were the records only slow to
    come, reading them again costs a fetch, since re-read records are skipped
    (``Verdict.SEEN``). After ``seeks`` seeks to one cursor it gives up on it, once.
    """

    def __init__(self, after: float = STRANDED_SECONDS, seeks: int = STRANDED_SEEKS) -> None:
        self.after = after
        self.seeks = seeks
        self._since: dict[TP, tuple[int, float, int]] = {}
        """tp -> (cursor, since when it stood still, seeks to it so far)"""

    def check(
        self, tp: TP, cursor: int, end: int | None, *, idle: bool, now: float
    ) -> Literal["seek", "give up"] | None:
        """What to do about ``tp`` now: "seek" back to ``cursor``; "give up" on it (said
        once per cursor); or nothing. ``end`` is the broker's end offset (None: unknown),
        ``idle`` whether the agents wait for input with nothing queued."""
        if end is None or end <= cursor:
            self._since.pop(tp, None)
            return None
        since = self._since.get(tp)
        if since is None or since[0] != cursor:
            self._since[tp] = (cursor, now, 0)
            return None
        _, still_since, seeks = since
        if not idle or now - still_since < self.after or seeks > self.seeks:
            return None
        self._since[tp] = (cursor, now, seeks + 1)
        return "seek" if seeks < self.seeks else "give up"

    def forget(self) -> None:
        self._since.clear()
