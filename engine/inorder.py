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
- a record above it means the consumer dropped the ones in between: it is skipped
  too, and the partition is sought back to the cursor to read them again, in order.

A partition's commit offset is its cursor as of the last batch whose outputs and
state the broker acknowledged (``committable``, read by engine.faust_app's consumer)
and never faust's own reckoning of acknowledgements and gaps.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Awaitable, Callable, Iterable

from faust.types import TP

REWIND_EVERY_SECONDS = 0.2
"""While records above the cursor keep coming, seek back at most this often (the
records fetched before a seek still arrive, and the consumer drops the re-read ones
that come after a higher offset, so one seek may not be enough)."""


class Verdict(enum.Enum):
    PROCESS = "process"
    SEEN = "seen"
    """Below the cursor: processed before, skipped."""
    AHEAD = "ahead"
    """Above the cursor: the records before it were dropped; skipped, to be read again."""


StartOffsets = Callable[[list[TP]], Awaitable[dict[TP, int]]]
Rewind = Callable[[TP, int], Awaitable[int]]
"""Seek a partition back to an offset; returns where it now starts: that offset, or the
partition's first offset when retention deleted the records before it."""


class InOrder:
    """Per input partition: the next offset to process, and what may be committed."""

    def __init__(
        self,
        start_offsets: StartOffsets,
        rewind: Rewind,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._start_offsets = start_offsets
        self._rewind = rewind
        self._clock = clock
        self._next: dict[TP, int] = {}
        self._rewound_at: dict[TP, float] = {}
        self.committable: dict[TP, int] = {}
        """TP -> offset to commit: the next one after what was processed and settled."""
        self.rewinds = 0
        self.skipped = 0

    async def check(self, tp: TP, offset: int, assigned: Callable[[], Iterable[TP]]) -> Verdict:
        """Where this record stands against its partition's cursor; moves the cursor
        past it when it is to be processed. ``assigned`` gives the partitions this worker
        owns, whose starting offsets are looked up together on the first record."""
        expected = self._next.get(tp)
        if expected is None:
            missing = sorted({tp, *(t for t in assigned() if t not in self._next)})
            self._next.update(await self._start_offsets(missing))
            expected = self._next[tp]
        if offset == expected:
            self._next[tp] = offset + 1
            return Verdict.PROCESS
        self.skipped += 1
        if offset < expected:
            return Verdict.SEEN
        now = self._clock()
        if now - self._rewound_at.get(tp, -REWIND_EVERY_SECONDS) >= REWIND_EVERY_SECONDS:
            self._rewound_at[tp] = now
            self.rewinds += 1
            start = await self._rewind(tp, expected)
            if start > expected:  # the missing records are gone: go on from the first kept
                self._next[tp] = start
                self.skipped -= 1
                return await self.check(tp, offset, assigned)
        return Verdict.AHEAD

    def next_offset(self, tp: TP) -> int | None:
        return self._next.get(tp)

    def settled(self, done: dict[TP, int]) -> None:
        """A batch's outputs and state are on the broker: its offsets may be committed."""
        for tp, offset in done.items():
            if offset > self.committable.get(tp, -1):
                self.committable[tp] = offset

    def forget(self) -> None:
        """Partitions were revoked: cursors restart from the committed offsets."""
        self._next.clear()
        self._rewound_at.clear()
        self.committable.clear()
