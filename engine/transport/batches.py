"""An agent's input in batches: in offset order, each record once, holes read again.

faust's consumer hands an agent batches of events; after a rebalance or a fetch
error it may skip records or deliver some twice (engine.transport.inorder says which). This
module turns faust's batches into the batches an agent may process: each partition's
records in offset order and each once, with the offsets to commit once the agent has
settled the batch. Records faust skipped are read again with the agent's own client
(engine.transport.clients) and come as batches of their own, before the record that
revealed them; records retention deleted before the group read them are passed over,
logged and counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, cast

import faust
from aiokafka import TopicPartition
from faust.types import TP

from engine.metrics import Metrics
from engine.transport.clients import BROKER_ERRORS, Clients
from engine.transport.faust_app import event_from_record
from engine.transport.inorder import InOrder, Verdict

log = logging.getLogger(__name__)

BATCH_MESSAGES = 1000
BATCH_SECONDS = 0.01
"""A batch of the accounts agent: at most this many messages, or what came within this."""
REFETCH_WAIT_MS = 500
"""How long one fetch of records the consumer skipped may wait (engine.transport.inorder)."""
REFETCH_QUIET_SECONDS = 30.0
"""Warn when re-reading a hole has made no progress for this long (broker away?)."""


class InputBatches:
    """The batches each agent of a worker processes (``of``)."""

    def __init__(
        self, app: faust.App, in_order: InOrder, clients: Clients, metrics: Metrics
    ) -> None:
        self.app = app
        self.in_order = in_order
        self.clients = clients
        self.metrics = metrics
        self.waiting: dict[str, Any] = {}
        """agent -> its input queue while it waits for a batch, or None while it is busy
        with one (the stranded-partition watchdog asks, engine.transport.inorder.Stranded)"""

    async def of(
        self, agent: str, stream: faust.StreamT[bytes]
    ) -> AsyncIterator[tuple[list[Any], dict[TP, int]]]:
        """An agent's input in batches, each partition's records in offset order and
        each once (engine.transport.inorder), with the offsets to commit once the agent has
        settled the batch. faust acknowledges its batch when the agent asks for the
        next one; records faust skipped are read again here and come as batches of
        their own, before the record that revealed them."""
        batches = cast(faust.Stream[bytes], stream).take_events(BATCH_MESSAGES, BATCH_SECONDS)
        queue = cast(Any, stream).channel.queue
        self.waiting[agent] = queue
        assigned = self.app.consumer.assignment
        async for events in batches:
            self.waiting[agent] = None  # busy with a batch (engine.transport.inorder.Stranded)
            ready: list[Any] = []
            done: dict[TP, int] = {}
            owned = assigned()
            for event in events:
                message = event.message
                tp, offset = message.tp, message.offset
                if tp not in owned:  # queued before a rebalance took it: its owner reads it
                    self.metrics.input_skipped.labels(topic=tp.topic, why="revoked").inc()
                    continue
                verdict = await self.in_order.check(tp, offset, assigned)
                while verdict is Verdict.AHEAD:
                    if tp not in assigned():  # revoked meanwhile: its new owner reads it
                        break
                    if ready:  # what came before the hole goes first
                        yield ready, done
                        ready, done = [], {}
                    start = self.in_order.next_offset(tp)
                    async for chunk in self._refetch(agent, tp, start, offset):
                        yield chunk, {tp: chunk[-1].message.offset + 1}
                    verdict = await self.in_order.check(tp, offset, assigned)
                if verdict is Verdict.PROCESS:
                    ready.append(event)
                    done[tp] = offset + 1
                else:
                    why = "seen" if verdict is Verdict.SEEN else "revoked"
                    self.metrics.input_skipped.labels(topic=tp.topic, why=why).inc()
            yield ready, done
            self.waiting[agent] = queue

    async def _refetch(self, agent: str, tp: TP, start: int, stop: int) -> AsyncIterator[list[Any]]:
        """The partition's records from ``start`` up to ``stop``, which faust's consumer
        skipped, read with the agent's own client, in chunks of at most a batch; the
        partition's cursor moves past each chunk (engine.transport.inorder). Records deleted by
        retention before this group read them are logged and passed over. Waits out a
        broker that is away, as faust's consumer would."""
        log.warning(
            "%s[%d]: the consumer skipped offsets %d to %d; reading them again",
            tp.topic,
            tp.partition,
            start,
            stop - 1,
        )
        kafka_tp = TopicPartition(tp.topic, tp.partition)
        reader = await self.clients.reader(agent)
        reader.assign([kafka_tp])
        reader.seek(kafka_tp, start)
        position, progressed = start, time.monotonic()
        try:
            while position < stop:
                try:
                    fetched = await reader.getmany(
                        kafka_tp, timeout_ms=REFETCH_WAIT_MS, max_records=BATCH_MESSAGES
                    )
                    records = [r for r in fetched.get(kafka_tp, ()) if position <= r.offset < stop]
                    first = records[0].offset if records else await reader.position(kafka_tp)
                except BROKER_ERRORS as exc:
                    log.warning("reading %s[%d] again: %r; retrying", tp.topic, tp.partition, exc)
                    await asyncio.sleep(1.0)
                    reader.seek(kafka_tp, position)
                    continue
                if first > position:  # only when records are gone, or on markers
                    self._passed_over(tp, position, min(first, stop))
                    position = min(first, stop)
                    self.in_order.moved(tp, position)
                if records:
                    position = records[-1].offset + 1
                    self.in_order.moved(tp, position)
                    self.metrics.input_refetched.labels(topic=tp.topic).inc(len(records))
                    progressed = time.monotonic()
                    yield [self.event_of(tp, record) for record in records]
                elif time.monotonic() - progressed > REFETCH_QUIET_SECONDS:
                    log.warning(
                        "%s[%d]: offset %d not readable for %.0f s; still trying",
                        tp.topic,
                        tp.partition,
                        position,
                        REFETCH_QUIET_SECONDS,
                    )
                    progressed = time.monotonic()
        finally:
            reader.pause(kafka_tp)  # no fetching in the background until the next hole

    def _passed_over(self, tp: TP, start: int, stop: int) -> None:
        """Offsets a re-read found gone: deleted by retention before this group read
        them (or, harmlessly, transaction markers)."""
        log.error(
            "%s[%d]: offsets %d to %d are no longer on the broker (retention deleted them "
            "before this group read them); going on from %d",
            tp.topic,
            tp.partition,
            start,
            stop - 1,
            stop,
        )
        self.metrics.input_skipped.labels(topic=tp.topic, why="deleted").inc(stop - start)

    def event_of(self, tp: TP, record: Any) -> Any:
        """A record read by one of our own clients, as the faust event an agent handles."""
        return event_from_record(self.app, tp, record)
