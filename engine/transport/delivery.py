"""Knowing that what a worker sent is on the broker before it acknowledges its input.

An agent acknowledges a batch of input messages only once every message the batch
produced (triggers, health, dead letters, forwards, and the state changelog) has been
acknowledged by the broker, and it writes state only after the outputs that state
records as done were delivered. A crash at any point then leaves input that is read
again (at-least-once): never state that says a trigger went out when it did not.

faust cannot be relied on for this: the flush it runs before a commit gives up when
its send buffer makes no progress for 100 ms (``ProducerBuffer.flush_atmost``), so a
commit could cover table writes still waiting in that buffer, and a SIGKILL then lost
them (tests/faults/test_kill.py found accounts missing events after restarts).

Each agent runs in its own task and keeps its own ``Deliveries`` in a context
variable, so one agent's wait never takes the other's messages off its list.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import SimpleNamespace
from typing import Any, cast

import faust
from faust.streams import _current_event

from topics.errors import PulseError


class DeliveryFailed(PulseError):
    """The broker refused or never acknowledged a message the worker produced."""


class Deliveries:
    """Messages an agent has handed to the producer and not yet seen acknowledged."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending: list[Awaitable[Any]] = []

    def __len__(self) -> int:
        return len(self._pending)

    def track(self, sent: Awaitable[Any]) -> None:
        self._pending.append(sent)

    def take(self) -> Deliveries:
        """What is tracked so far, as deliveries of their own; these start empty."""
        taken = Deliveries()
        taken._pending, self._pending = self._pending, []
        return taken

    async def settle(self) -> int:
        """Wait until every tracked message is acknowledged; return how many were.

        Raises DeliveryFailed (after waiting for all of them) if any failed.
        """
        settled = 0
        while self._pending:
            pending, self._pending = self._pending, []
            results = await asyncio.gather(*pending, return_exceptions=True)
            settled += len(results)
            failed = [r for r in results if isinstance(r, BaseException)]
            if failed:
                msg = f"{len(failed)} of {len(results)} produced messages failed: {failed[0]!r}"
                raise DeliveryFailed(msg)
        return settled


_current: ContextVar[Deliveries | None] = ContextVar("pulse_deliveries", default=None)


def fresh(tracked: Deliveries | None = None) -> Deliveries:
    """Give the current task (an agent) deliveries of its own: new ones, or ``tracked``
    (those of the agent it restarts, whose outputs are not all settled yet)."""
    if tracked is None:
        tracked = Deliveries()
    _current.set(tracked)
    return tracked


def deliveries() -> Deliveries:
    """This task's deliveries (an agent's), created on first use."""
    tracked = _current.get()
    if tracked is None:
        tracked = Deliveries()
        _current.set(tracked)
    return tracked


@contextmanager
def tracking(tracked: Deliveries) -> Iterator[None]:
    """Within the block, what the current task sends joins ``tracked`` (an agent's
    deliveries, when another task commits for it: engine.runtime.checkpoint)."""
    token = _current.set(tracked)
    try:
        yield
    finally:
        _current.reset(token)


def track(sent: Awaitable[Any]) -> None:
    """Track a sent message in the current task's deliveries."""
    deliveries().track(sent)


class TrackedTable(faust.Table[bytes, bytes]):
    """A faust table whose changelog messages join the writing task's deliveries, and
    whose reads name the partition they read."""

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        sent = super().send_changelog(*args, **kwargs)
        track(sent)
        return sent

    def get_in(self, partition: int, key: bytes) -> bytes | None:
        """The value of ``key`` in ``partition``'s store.

        Workaround, the stray current event: faust's RocksDB store reads a key from the
        store of the partition of faust's *current event* (a context variable), and in
        a batch (``take_events``) that is the last event taken, often of another
        partition, or whatever event a previous batch left there. The read then finds
        nothing and the account would start afresh: after a rebalance or an eviction
        from the worker's cache, states were lost (issue 17's backlog run: 123 of 306
        states differed from the replay). Reading under a stand-in event of the right
        partition makes the store look where the key lives; the memory store ignores it.
        """
        stand_in = _PartitionEvent(partition)
        token = _current_event.set(weakref.ref(cast(Any, stand_in)))
        try:
            return self.get(key)
        finally:
            _current_event.reset(token)

    def set_for(self, message: Any, key: bytes, value: bytes) -> None:
        """Write ``key`` as handling ``message`` (a faust event of the key's partition).

        faust takes a write's partition, for the store and the changelog, from its
        current event (a context variable): after a batch it is the batch's last
        message, so it is set to the message that changed the key.
        """
        _current_event.set(weakref.ref(message))
        self[key] = value


class _PartitionEvent:
    """What faust's store reads of the current event: ``message.partition``."""

    __slots__ = ("__weakref__", "message")

    def __init__(self, partition: int) -> None:
        self.message = SimpleNamespace(partition=partition)


CHANGELOG_TOPIC_CONFIG = {
    "segment.bytes": str(16 * 1024 * 1024),
    "segment.ms": str(60 * 60 * 1000),
}
"""The changelog topics' segments close at 16 MiB or after an hour.

The broker's log cleaner compacts only closed segments. With the broker's default
segment (1 GiB; 64 MiB on the local stack) a table of 100,000 accounts never closes
one: every update since the topic began stays, and recovery from the changelog alone
read 3.8 records per account on the benchmark (383,000 for 100,000 accounts, 77 s).
With small segments a changelog holds about one record per key plus at most one open
segment per partition, so recovery time follows the size of the state, not the
length of its history. faust applies this when it creates a changelog; an existing
one keeps its configuration (docs/operations.md shows how to change it)."""


def tracked_table(app: faust.App, name: str, partitions: int) -> TrackedTable:
    """A table of bytes whose changelog writes the writing agent waits for; what
    ``app.Table`` does, with our table class and ``CHANGELOG_TOPIC_CONFIG``."""
    table = TrackedTable(
        app,
        name=name,
        default=None,
        beacon=app.tables.beacon,
        partitions=partitions,
        key_type=bytes,
        value_type=bytes,
        extra_topic_configs=CHANGELOG_TOPIC_CONFIG,
    )
    return cast(TrackedTable, app.tables.add(table))


def bind_event(event: Any) -> None:
    """Make ``event`` faust's current event, whose partition its tables read and write
    (the workaround of ``TrackedTable.set_for``, for an agent that uses plain access)."""
    _current_event.set(weakref.ref(event))
