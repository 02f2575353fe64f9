"""Each agent partition's clock: the wall clock, or the event-time watermark.

Each topic is read in order, but faust reads topics side by side, so one may run
ahead of another in event time. The event clock is therefore the lowest watermark of
the topics that still have unread messages on the broker (a caught-up topic cannot
bring anything older), and the core holds events until the clock passes them: they
are applied in event-time order, as a replay applies them. A caught-up topic may just
have a slower producer, so it still holds the clock for IDLE_SECONDS after it ran dry
(Kafka Streams' synchronisation of a task's inputs, with max.task.idle.ms).

Events that reach an agent through an internal topic were sent by other agent
partitions, which announce their own clocks there: the clock never passes the lowest
announcement of a sender that is not idle (watermarks across a shuffle, as in Flink).

The decisions are engine.runtime.clock's (pure, unit-tested); this module does their
I/O: what the consumer fetched and committed, the broker's end offsets, the
announcements sent and heard.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from engine.runtime.clock import Announcer, Heard, Mark, confirm, holding_back
from engine.runtime.store import AccountStore
from engine.transport.clients import BROKER_ERRORS
from signals.state import EPOCH, micros

log = logging.getLogger(__name__)

WATERMARK_HEADER = "pulse-watermark"
_MICROSECOND = timedelta(microseconds=1)

Scope = tuple[str, int]
"""(agent, partition)"""


class Offsets(Protocol):
    """What the clock asks of the transport about one partition of a topic it reads
    (engine.transport.clients.ConsumerOffsets; an in-memory broker in tests)."""

    def highwater(self, topic: str, partition: int) -> int | None:
        """The end offset the consumer's last fetch saw; None when not known."""

    def committed(self, topic: str, partition: int) -> int | None:
        """The group's committed position (the next offset to read); None if never."""

    async def end_offset(self, topic: str, partition: int) -> int:
        """The broker's end offset, asked now (BROKER_ERRORS when it cannot say)."""


class EventClock:
    """The clocks of the agent partitions a worker owns."""

    def __init__(
        self,
        offsets: Offsets,
        store: AccountStore,
        *,
        sources: Mapping[str, Sequence[str]],
        detours: Mapping[str, set[str]],
        senders: Mapping[str, Sequence[str]],
        announce_to: Mapping[str, Sequence[Any]],
        partitions: int,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.offsets = offsets
        self.monotonic = monotonic
        """The clock of idle allowances and announcement pacing (seconds)."""
        self.store = store
        self.sources = sources
        """agent -> the topics whose own watermarks make its clock"""
        self.detours = detours
        """agent -> the internal topics it reads (their senders announce watermarks)"""
        self.senders = senders
        """agent -> who writes to the internal topic it reads: it hears each one"""
        self.announce_to = announce_to
        """sender kind ("accounts", "users") -> the internal topics it writes"""
        self.partitions = partitions
        self.clocks: dict[Scope, int] = {}
        """(agent, partition) -> its event clock (µs); it never goes back"""
        self._marks: dict[Scope, dict[str, Mark]] = {}
        """(agent, partition) -> topic -> how far that topic has got"""
        self._heard: dict[Scope, Heard] = {}
        """(agent, partition) -> what the senders to its internal topic announced"""
        self._announced: dict[str, Announcer] = {}
        """sender ("accounts:3", "users:0") -> what it last announced"""
        self._restored: dict[int, int] = {}
        """partition -> latest event time its stored account states hold (µs), read once
        per assignment: how far earlier runs had read, which the marks do not know"""

    def forget(self) -> None:
        """Partitions were revoked: per-partition memory is rebuilt when needed."""
        self._marks.clear()
        self.clocks.clear()
        self._restored.clear()
        self._heard.clear()
        self._announced.clear()

    async def now(
        self,
        scope: Scope,
        message: Any | None = None,
        occurred_at: datetime | None = None,
    ) -> datetime:
        """The agent partition's clock, having read ``message`` (an event at
        ``occurred_at``, if it had one) when given."""
        agent, partition = scope
        marks = self._marks.get(scope)
        if marks is None:
            marks = self._marks[scope] = {t: Mark() for t in self.sources[agent]}
        if message is not None and message.topic in marks:
            occurred_us = None if occurred_at is None else micros(occurred_at)
            marks[message.topic].read(message.offset, occurred_us)
        if marks and partition not in self._restored:
            await self._ask_ends(partition, marks)
        behind = {t for t, m in marks.items() if self._behind(t, partition, m)}
        if message is not None and message.topic in marks:
            behind.add(message.topic)
        senders = self._heard.setdefault(scope, Heard())
        heard = senders.bound(self.senders[agent], self.monotonic())
        if not marks:  # the users agent: its clock is what its senders announce
            idle = heard is None
            watermark = senders.highest() if heard is None else heard
            await self._announce(f"users:{partition}", watermark, idle=idle)
        else:
            if not behind:  # nothing left to read anywhere: nothing can arrive older
                for mark in marks.values():
                    mark.empty_since = None
                # The marks only know what this run read: after a restart, what earlier
                # runs read (and committed) is known from the account states alone.
                own = max(
                    self._restored_watermark(partition), *(m.watermark for m in marks.values())
                )
            else:
                own = await self._holding_back(partition, marks, behind)
            await self._announce(f"accounts:{partition}", own, idle=not behind)
            watermark = own if heard is None else min(own, heard)
        watermark = max(watermark, self.clocks.get(scope, -1))
        self.clocks[scope] = watermark
        return EPOCH + max(watermark, 0) * _MICROSECOND

    def hear(self, agent: str, message: Any) -> bool:
        """Record a sender's announcement if this message is one (it carries no event)."""
        if message.topic not in self.detours[agent]:
            return False
        for header, raw in message.headers or ():
            if header == WATERMARK_HEADER:
                sender, watermark, idle = raw.decode().split("|")
                heard = self._heard.setdefault((agent, message.partition), Heard())
                heard.hear(sender, int(watermark), idle=idle == "1", now=self.monotonic())
                return True
        return False

    async def _ask_ends(self, partition: int, marks: dict[str, Mark]) -> None:
        """Once per assignment, before the partition's restored watermark may be used: the
        broker's end offsets of its topics (the first fetches may not have come yet, and
        'nothing behind' must not be concluded from not knowing)."""
        for topic, mark in marks.items():
            try:
                mark.end = max(mark.end, await self.offsets.end_offset(topic, partition))
            except BROKER_ERRORS as exc:
                log.warning("end offset of %s[%d] unknown: %r", topic, partition, exc)
                return  # asked again on the next message
        self._restored_watermark(partition)

    def _restored_watermark(self, partition: int) -> int:
        """The latest event time the partition's stored states hold (applied or held)."""
        seen = self._restored.get(partition)
        if seen is None:
            seen = -1
            for key in self.store.accounts_in(partition):
                loaded = self.store.peek(key, partition)
                if loaded is None:
                    continue
                state = loaded[1]
                seen = max(seen, state.clock_us, *(held[0] for held in state.pending[-1:]))
            self._restored[partition] = seen
        return seen

    async def _announce(self, sender: str, watermark: int, *, idle: bool) -> None:
        """Tell every partition of the internal topics this sender writes to how far it
        has got: it will send nothing older than ``watermark`` (unless late), or, idle,
        nothing at all until it announces again (when: engine.runtime.clock.Announcer).
        """
        announcer = self._announced.setdefault(sender, Announcer())
        if not announcer.due(watermark, idle=idle, now=self.monotonic()):
            return
        headers = [(WATERMARK_HEADER, f"{sender}|{watermark}|{int(idle)}".encode())]
        for topic in self.announce_to[sender.split(":", maxsplit=1)[0]]:
            for partition in range(self.partitions):
                await topic.send(key=None, value=b"", partition=partition, headers=headers)

    async def _holding_back(self, partition: int, marks: dict[str, Mark], behind: set[str]) -> int:
        """The lowest watermark among topics with unread data and caught-up topics still
        within their idle allowance, or found by the broker to have more after all
        (engine.runtime.clock.holding_back)."""
        low, ask = holding_back(marks, behind, self.monotonic())
        for topic in ask:
            if await self._has_more(topic, partition, marks[topic]):
                low = min(low, marks[topic].watermark)
        return low

    async def _has_more(self, topic: str, partition: int, mark: Mark) -> bool:
        """Ask the broker (not the last fetch) whether a quiet topic really ran dry."""
        try:
            end: int | None = await self.offsets.end_offset(topic, partition)
        except BROKER_ERRORS as exc:  # cannot tell: keep holding the clock, ask again later
            log.warning("end offset of %s[%d] unknown: %r", topic, partition, exc)
            end = None
        offsets = self.offsets
        committed = offsets.committed(topic, partition)
        return confirm(mark, end, committed, offsets.highwater(topic, partition))

    def _behind(self, topic: str, partition: int, mark: Mark) -> bool:
        """Whether the last fetch (or broker query) showed messages we have not processed."""
        offsets = self.offsets
        return mark.behind(offsets.highwater(topic, partition), offsets.committed(topic, partition))
