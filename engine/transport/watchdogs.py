"""What a worker watches in faust's consumer: readiness, lag, stranded partitions.

Each reads faust or aiokafka state that has no public interface:

- readiness reads the table manager's ``recovery`` (``in_recovery``, ``completed``),
  the only place faust says that table recovery has finished;
- the lag report reads the consumer's ``_get_active_partitions()`` (what its fetcher
  is asking for) and ``_paused_partitions``, to log partitions the consumer owns but
  has stopped fetching outside a recovery, the symptom of a stall;
- the stranded-partition check (engine.transport.inorder.Stranded) reads the consumer's
  high-water marks and seeks it back with ``seek_back`` (engine.transport.faust_app).

tests/engine/test_layout.py checks each of those names against the installed
faust-streaming and aiokafka, so an upgrade that moves one fails there, not in
production.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from typing import Any, cast

import faust
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from engine.metrics import Metrics
from engine.transport.batches import InputBatches
from engine.transport.clients import BROKER_ERRORS, Clients
from engine.transport.faust_app import committed_offset, highwater
from engine.transport.inorder import InOrder

log = logging.getLogger(__name__)


def readiness(app: faust.App) -> dict[str, bool]:
    """Ready: partitions assigned, no rebalance under way, table recovery finished."""
    recovery = app.tables.recovery  # type: ignore[attr-defined]
    recovering = bool(recovery.in_recovery or not recovery.completed.is_set())
    assigned = bool(app.consumer.assignment()) if app.consumer else False
    ready = assigned and not app.rebalancing and not recovering
    return {"ready": ready, "rebalancing": bool(app.rebalancing), "recovering": recovering}


class Watchdogs:
    """The worker's timers over faust's consumer: lag, and partitions left stranded."""

    def __init__(
        self,
        app: faust.App,
        clients: Clients,
        metrics: Metrics,
        in_order: InOrder,
        batches: InputBatches,
        *,
        sources: Callable[[], Collection[str]],
        agents: int,
    ) -> None:
        self.app = app
        self.clients = clients
        self.metrics = metrics
        self.in_order = in_order
        self.batches = batches
        self.sources = sources
        """The topics the agents read (inputs and internal detours)."""
        self.agents = agents

    def _owned(self) -> list[Any]:
        sources = set(self.sources())
        return sorted(tp for tp in self.app.consumer.assignment() if tp.topic in sources)

    async def report_lag(self) -> None:
        """Messages after the committed offset on each source partition this worker owns
        (summing over workers gives the group's lag, with no partition counted twice)."""
        owned = self._owned()
        if not owned:
            return
        try:
            ends = await (await self.clients.prober()).end_offsets(
                [TopicPartition(tp.topic, tp.partition) for tp in owned]
            )
        except BROKER_ERRORS as exc:  # the broker is away: try again next time
            log.warning("consumer lag not measured: %r", exc)
            return
        self.metrics.consumer_lag.clear()
        for tp in owned:
            end = ends.get(TopicPartition(tp.topic, tp.partition), 0)
            position = committed_offset(self.app.consumer, tp)  # the next offset to read
            lag = end if position is None else max(0, end - position)
            self.metrics.consumer_lag.labels(topic=tp.topic, partition=str(tp.partition)).set(lag)
        consumer = cast(Any, self.app.consumer)
        fetched = consumer._get_active_partitions()
        idle = [f"{tp.topic}[{tp.partition}]" for tp in owned if tp not in fetched]
        if idle and not self.app.in_recovery:  # recovery pauses them on purpose
            log.warning(
                "faust's consumer is not fetching %d owned partitions: %s (paused: %d)",
                len(idle),
                ", ".join(idle),
                len(consumer._paused_partitions),
            )

    async def unstrand(self) -> None:
        """Seek the consumer back to the cursor of a partition whose last records it
        dropped with nothing after them to reveal the hole (engine.transport.inorder)."""
        app = self.app
        if app.in_recovery or not self.batches.waiting:
            return
        consumer = cast(Any, app.consumer)
        owned = self._owned()
        fetched = consumer._get_active_partitions()
        queues = list(self.batches.waiting.values())  # every agent waits, with nothing queued
        idle = len(queues) == self.agents and all(q is not None and q.empty() for q in queues)
        if idle and any(self.in_order.cursor(tp) is None for tp in owned):
            await self.in_order.start(owned)  # no record of theirs reached an agent yet
        now, stranded = time.monotonic(), self.in_order.stranded
        for tp in owned:
            cursor = self.in_order.cursor(tp)
            if cursor is None or tp not in fetched:
                continue  # revoked while we looked; or paused
            end = highwater(consumer, tp)
            verdict = stranded.check(tp, cursor, end, idle=idle, now=now)
            if verdict == "give up":
                log.error(
                    "%s[%d]: offsets %d to %d stay unread after %d seeks back; leaving "
                    "them (transaction markers, or records retention deleted?) until "
                    "more arrive",
                    tp.topic,
                    tp.partition,
                    cursor,
                    (end or 0) - 1,
                    stranded.seeks,
                )
            if verdict != "seek":
                continue
            log.warning(
                "%s[%d]: records from offset %d are on the broker but reached no agent in "
                "%.0f s; seeking back to read them",
                tp.topic,
                tp.partition,
                cursor,
                stranded.after,
            )
            self.metrics.input_stranded.labels(topic=tp.topic).inc()
            try:
                await consumer.seek_back(tp, cursor)
            except KafkaError as exc:  # not assigned any more: the next look decides
                log.warning("seeking %s[%d] back failed: %r", tp.topic, tp.partition, exc)
