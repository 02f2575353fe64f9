"""An agent's commits, in the one order that never loses anything, once per interval.

A commit:

1. The outputs produced since the last commit (triggers, health, dead letters,
   forwards) are acknowledged by the broker.
2. The states that record those outputs as sent are written to their table, each
   account once however many of its events came since the last commit.
3. The state changelog is acknowledged by the broker.
4. The input offsets read since the last commit may be committed (faust commits
   them on its next commit, after the agent asks for the next batch).

A crash between two steps, or between two commits, repeats work and never leaves a
state ahead of what went out, nor input committed whose outputs were lost (Quix
Streams' ``Checkpoint.commit`` makes the same promise). What is read again is applied
again to the last written state (events already applied are recognised by their ids)
and its triggers come again with the same trigger ids: delivery is at-least-once.

Batches are committed together for ``interval`` seconds, as Kafka Streams
(``commit.interval.ms``) and Quix Streams (``commit_interval``) do: an account that
had ten events in that time is encoded and written to its changelog once, not ten
times. Outputs are sent as they are made, so an interval delays no trigger; it bounds
how much input a crashed worker reads again. The window also closes when the store
holds ``max_changed`` accounts changed and not written, before partitions are
revoked or the worker stops (``close``), and on a timer when input stops
(``close_if_due``). If the broker refuses something produced,
the worker exits at once, before step 4: faust would acknowledge the batch on the way
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


class Flushable(Protocol):
    def flush(self) -> None: ...

    @property
    def changed(self) -> int:
        """Accounts changed and not yet written."""
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
        self._lock = asyncio.Lock()

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
        is committed when it is due."""
        for tp, offset in offsets.items():
            if offset > self._offsets.get(tp, -1):
                self._offsets[tp] = offset
        now = self.monotonic()
        if self._opened is None:
            self._opened, self._first = now, messages
        full = (
            self.store is not None
            and self.max_changed is not None
            and self.store.changed >= self.max_changed
        )
        if full or now - self._opened >= self.interval:
            await self._close()

    async def close_if_due(self) -> None:
        """Commit the window if it is ``interval`` old: from a timer, so the last window
        before input stops is committed too (its offsets, and its states for a restart)."""
        async with self._lock:
            if self._opened is not None and self.monotonic() - self._opened >= self.interval:
                await self._close()

    async def close(self) -> None:
        """Commit the window now (before a revocation or a stop: its states are written
        and its offsets made committable while the partitions are still owned)."""
        async with self._lock:
            await self._close()

    async def _close(self) -> None:
        offsets, messages = self._offsets, self._first
        self._offsets, self._first, self._opened = {}, (), None
        await self.settle(messages)  # 1. outputs
        if self.store is not None:
            with tracking(self.sent):  # the changelog, also when called by another task
                self.store.flush()  # 2. states
            await self.settle(messages)  # 3. changelog
        self.in_order.settled(offsets)  # 4. input offsets

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
