"""An agent's commits, in the one order that never loses anything, once per interval.

A commit:

1. The outputs produced since the last commit (triggers, health, dead letters,
   forwards) are acknowledged by the broker.
2. The states that record those outputs as sent are written to their table, each
   account once however many of its events came since the last commit: as they are
   at the commit, spread over the next batches (``WRITES_PER_BATCH``), and an account
   that changes again is written first (engine.runtime.store, copy on write).
3. The state changelog is acknowledged by the broker.
4. The input offsets read since the last commit may be committed (faust commits
   them on its next commit, after the agent asks for the next batch).

Steps 2 to 4 run while the agent goes on with the next batches; a commit finishes
them before its own step 1. Written at once, the 3,500 states of a 5 s window held
the agent for 0.4 to 1 s at each commit (encoding 0.2 to 0.34 s, the changelog's
acknowledgements 0.2 to 0.7 s, on the benchmark's latency run); spread, a batch's
share is under 30 ms.

Batches are committed together for ``interval`` seconds, as Kafka Streams
(``commit.interval.ms``) and Quix Streams (``commit_interval``) do: an account that
had ten events in that time is encoded and written to its changelog once, not ten
times. Outputs are sent as they are made; an interval bounds how much input a crashed
worker reads again, and on the benchmark a long one (5 s) tripled the p99 from event
to trigger, without a stall in the worker's loop or a collection to show for it (the
cause is not found yet: docs/operations.md has the figures). The window also closes
when the store holds ``max_changed`` accounts changed and not written, before
partitions are revoked or the worker stops (``close``), and on a timer when input
stops (``close_if_due``). If the broker refuses something produced, the worker exits
at once, before step 4: faust would acknowledge the batch on the way
out, and restarted, the worker reads it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, NoReturn, Protocol

from engine.transport.delivery import Deliveries, DeliveryFailed, tracking
from engine.transport.inorder import InOrder

log = logging.getLogger(__name__)

EXIT_UNDELIVERED = 75
"""Exit code of a worker that stopped because the broker refused its output (EX_TEMPFAIL:
restart it; it reads the unacknowledged input again)."""


WRITES_PER_BATCH = 200
"""States of the last commit written after each batch (about 20 ms of encoding)."""


class Flushable(Protocol):
    def freeze(self) -> None: ...

    def drain(self, limit: int | None = None) -> int: ...

    @property
    def changed(self) -> int:
        """Accounts changed since the last commit."""
        ...


def _exit_now(code: int) -> NoReturn:
    logging.shutdown()
    os._exit(code)


class Checkpoint:
    """Commits an agent's batches: ``commit(messages, offsets)`` after each; the commit
    is made when the window is ``interval`` seconds old (0: after every batch)."""

    def __init__(
        self,
        sent: Deliveries,
        in_order: InOrder,
        store: Flushable | None = None,
        *,
        interval: float = 0.0,
        max_changed: int | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        exit_now: Callable[[int], NoReturn] = _exit_now,
    ) -> None:
        self.sent = sent
        self.in_order = in_order
        self.store = store
        self.interval = interval
        self.max_changed = max_changed
        self.monotonic = monotonic
        self.exit_now = exit_now
        self._offsets: dict[Any, int] = {}
        """per partition, the offset after the last batch read since the last commit"""
        self._first: Sequence[Any] = ()
        """the window's first batch, named if the broker refuses an output"""
        self._opened: float | None = None
        self._last_batch: float | None = None
        self._lock = asyncio.Lock()
        self._writing: tuple[dict[Any, int], Sequence[Any]] | None = None
        """the last commit's offsets and first batch while its states are written"""
        self._finishing: asyncio.Future[None] | None = None
        """the last commit's steps 3 and 4 (``_finish``), under way"""

    @property
    def pending(self) -> dict[Any, int]:
        """The input offsets that the next commit makes committable."""
        return dict(self._offsets)

    @contextlib.asynccontextmanager
    async def handling(self) -> AsyncIterator[None]:
        """Hold while handling a batch, up to and including its ``commit``: a commit
        from outside (``close``, ``close_if_due``) waits, so it never writes a state
        halfway through a batch whose outputs are not yet sent."""
        async with self._lock:
            yield

    async def commit(self, messages: Sequence[Any], offsets: dict[Any, int]) -> None:
        """A batch is handled (inside ``handling``): its offsets join the window, which
        is committed when it is due; some of the last commit's states are written."""
        for tp, offset in offsets.items():
            if offset > self._offsets.get(tp, -1):
                self._offsets[tp] = offset
        now = self._last_batch = self.monotonic()
        if self._opened is None:
            self._opened, self._first = now, messages
        full = (
            self.store is not None
            and self.max_changed is not None
            and self.store.changed >= self.max_changed
        )
        if full or now - self._opened >= self.interval:
            await self._close()
        else:
            await self._write(WRITES_PER_BATCH)

    async def close_if_due(self) -> None:
        """From a timer, once no batch came for ``interval``: the last commit's states
        written, and the window committed if it is ``interval`` old, so the last window
        before input stops is committed too. While batches come, they write and commit
        (writing everything from here would bring back the stall spreading avoids)."""
        async with self._lock:
            now = self.monotonic()
            if self._last_batch is not None and now - self._last_batch < self.interval:
                return
            await self._write(None)
            if self._opened is not None and now - self._opened >= self.interval:
                await self._close()

    async def close(self) -> None:
        """Commit the window now and finish it (before a revocation or a stop: its
        states are written and its offsets made committable while still owned)."""
        async with self._lock:
            await self._close()
            await self._write(None)
            await self.settled()

    async def _close(self) -> None:
        await self._write(None)  # the last commit's states, all
        await self.settled()  # and its changelog and offsets
        offsets, messages = self._offsets, self._first
        self._offsets, self._first, self._opened = {}, (), None
        await self.settle(messages)  # 1. outputs
        if self.store is None:
            self.in_order.settled(offsets)  # 4. input offsets
            return
        self.store.freeze()  # 2. states, as they are now
        self._writing = (offsets, messages)
        # a commit per batch has no next batch to spread its writes over
        await self._write(0 if self.interval else None)  # (0: finished if none changed)

    async def _write(self, limit: int | None) -> None:
        """Write up to ``limit`` (None: all) of the last commit's states; once all are,
        steps 3 and 4 go on in the background."""
        if self._writing is None or self.store is None:
            return
        with tracking(self.sent):  # the changelog, also when called by another task
            left = self.store.drain(limit)
        if left:
            return
        offsets, messages = self._writing
        self._writing = None
        changelog = self.sent.take()  # its writes (and outputs since, settled early)
        self._finishing = asyncio.ensure_future(self._finish(changelog, offsets, messages))

    async def _finish(
        self, changelog: Deliveries, offsets: dict[Any, int], messages: Sequence[Any]
    ) -> None:
        """Steps 3 and 4, while the agent goes on: the changelog's acknowledgements
        take a round trip to the broker, and nothing the agent does next needs them."""
        await settle_or_exit(changelog, messages, self.exit_now)  # 3. changelog
        self.in_order.settled(offsets)  # 4. input offsets

    async def settled(self) -> None:
        """Wait for the last commit's changelog and offsets (steps 3 and 4). Shielded:
        a waiter cancelled (a stopping agent) leaves it running, and still to wait for."""
        finishing = self._finishing
        if finishing is not None:
            await asyncio.shield(finishing)
            if self._finishing is finishing:
                self._finishing = None

    async def settle(self, messages: Sequence[Any] = ()) -> None:
        await settle_or_exit(self.sent, messages, self.exit_now)


async def settle_or_exit(
    sent: Deliveries,
    messages: Sequence[Any] = (),
    exit_now: Callable[[int], NoReturn] = _exit_now,
) -> None:
    """Wait until the broker acknowledged what was produced; exit if it refused some
    (``messages``: the batch, named in the log)."""
    try:
        await sent.settle()
    except DeliveryFailed as exc:
        first = messages[0].message if messages else None
        where = f" (batch from {first.topic}[{first.partition}]@{first.offset})" if first else ""
        log.critical("exiting without acknowledging input%s: %s", where, exc)
        exit_now(EXIT_UNDELIVERED)
