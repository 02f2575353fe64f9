"""The Kafka clients a worker runs beside faust's: each started on first use.

- a prober (end and first offsets): faust's consumer runs in its own thread, and
  asking it from inside an agent can wait on a fetch that waits on the agent;
- an admin client (the group's committed offsets: where engine.transport.inorder's
  cursors start);
- one reader per agent, for records faust's consumer skipped (engine.transport.inorder).

A client whose start failed is stopped and started again at the next use.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from faust.types import TP

from engine.kafka import client_kwargs
from engine.settings import Settings
from engine.transport.faust_app import committed_offset, highwater

log = logging.getLogger(__name__)

BROKER_ERRORS = (KafkaError, OSError, TimeoutError)
READ_FETCH_BYTES = 128 * 1024


class Clients:
    """A worker's own Kafka clients (see the module's docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._probe: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._readers: dict[str, AIOKafkaConsumer] = {}
        self._lock = asyncio.Lock()
        """Held while starting a client (both agents may ask at once)."""

    async def end_offset(self, topic: str, partition: int) -> int:
        """The broker's end offset of a partition."""
        tp = TopicPartition(topic, partition)
        offsets = await (await self.prober()).end_offsets([tp])
        return int(offsets.get(tp, 0))

    async def prober(self) -> AIOKafkaConsumer:
        async with self._lock:
            if self._probe is None:
                self._probe = await _started(
                    AIOKafkaConsumer(
                        **client_kwargs(self.settings), group_id=None, enable_auto_commit=False
                    )
                )
            return self._probe

    async def admin(self) -> AIOKafkaAdminClient:
        async with self._lock:
            if self._admin is None:
                admin = AIOKafkaAdminClient(**client_kwargs(self.settings))
                await admin.start()
                self._admin = admin
            return self._admin

    async def reader(self, agent: str) -> AIOKafkaConsumer:
        """The agent's client for reading records again (assigned by hand, no group)."""
        async with self._lock:
            reader = self._readers.get(agent)
            if reader is None:
                reader = self._readers[agent] = await _started(
                    AIOKafkaConsumer(
                        **client_kwargs(self.settings),
                        group_id=None,
                        enable_auto_commit=False,
                        auto_offset_reset="earliest",
                        max_partition_fetch_bytes=READ_FETCH_BYTES,
                    )
                )
            return reader

    async def start_offsets(self, tps: list[TP]) -> dict[TP, int]:
        """Where each partition's cursor starts: the group's committed offset, or the
        partition's first offset when the group never committed one. Waits out a broker
        that is away (nothing can be processed or produced without it anyway)."""
        while True:
            try:
                admin = await self.admin()
                committed = await admin.list_consumer_group_offsets(
                    self.settings.app_id, partitions=[TopicPartition(*tp) for tp in tps]
                )
                starts: dict[TP, int] = {}
                for tp in tps:
                    meta = committed.get(TopicPartition(*tp))
                    if meta is not None and meta.offset >= 0:
                        starts[tp] = meta.offset
                never = [TopicPartition(*tp) for tp in tps if tp not in starts]
                if never:
                    firsts = await (await self.prober()).beginning_offsets(never)
                    starts.update({TP(t.topic, t.partition): o for t, o in firsts.items()})
                return starts
            except BROKER_ERRORS as exc:
                log.warning("committed offsets unknown, asking again in 1 s: %r", exc)
                await asyncio.sleep(1.0)

    async def close(self) -> None:
        """Stop them all (at shutdown, once faust's consumer is gone)."""
        clients: list[Any] = [*self._readers.values(), self._probe, self._admin]
        self._readers.clear()
        self._probe = self._admin = None
        for client in clients:
            if client is None:
                continue
            try:
                await (client.close() if isinstance(client, AIOKafkaAdminClient) else client.stop())
            except BROKER_ERRORS as exc:
                log.warning("stopping a client: %r", exc)


async def _started(consumer: AIOKafkaConsumer) -> AIOKafkaConsumer:
    try:
        await consumer.start()
    except BaseException:
        await consumer.stop()
        raise
    return consumer


class ConsumerOffsets:
    """The event clock's view of the broker (engine.runtime.event_clock.Offsets): what
    faust's consumer fetched and committed, and end offsets asked through ``Clients``."""

    def __init__(self, consumer: Callable[[], Any], clients: Clients) -> None:
        self.consumer = consumer
        """faust's consumer (the app's, which exists only once the app runs)"""
        self.clients = clients

    def highwater(self, topic: str, partition: int) -> int | None:
        return highwater(self.consumer(), TP(topic, partition))

    def committed(self, topic: str, partition: int) -> int | None:
        return committed_offset(self.consumer(), TP(topic, partition))

    async def end_offset(self, topic: str, partition: int) -> int:
        return await self.clients.end_offset(topic, partition)
