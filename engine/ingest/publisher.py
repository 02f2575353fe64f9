"""The bridge's Kafka producer: idempotent, acks from all replicas, a bounded wait.

A request is answered 2xx only after every event in it is acknowledged by the
broker; a broker that does not acknowledge within `timeout` makes the request
fail (503), so the sender retries and nothing acknowledged is lost. Event ids
already acknowledged are remembered so a sender's retry is not produced twice
(the worker deduplicates by event id beyond this memory).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

__all__ = ["BrokerUnavailable", "Outgoing", "Publisher"]

Outgoing = tuple[str, bytes | None, bytes, str]
"""(topic, key, value, event id)."""


class BrokerUnavailable(Exception):
    """The broker did not acknowledge in time: the sender must retry."""


class Publisher:
    def __init__(self, client: dict[str, Any], *, timeout: float, remember: int = 200_000) -> None:
        self.client = client
        self.timeout = timeout
        self.remember = remember
        self._producer: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()
        self._acked: OrderedDict[str, None] = OrderedDict()

    async def _ready(self) -> AIOKafkaProducer:
        async with self._starting:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    **self.client,
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=2,
                    request_timeout_ms=int(self.timeout * 1000),
                )
                try:
                    await asyncio.wait_for(producer.start(), self.timeout)
                except (KafkaError, TimeoutError, OSError) as exc:
                    await producer.stop()
                    raise BrokerUnavailable(repr(exc)) from None
                self._producer = producer
            return self._producer

    def seen(self, event_id: str) -> bool:
        return event_id in self._acked

    async def publish(self, events: Sequence[Outgoing]) -> int:
        """Produce the events not acknowledged before and wait for every ack; how many were new."""
        fresh = [e for e in events if e[3] not in self._acked]
        if not fresh:
            return 0
        producer = await self._ready()

        async def send_all() -> None:
            sends = [await producer.send(topic, value, key=key) for topic, key, value, _ in fresh]
            await asyncio.gather(*sends)

        try:
            await asyncio.wait_for(send_all(), self.timeout)
        except (KafkaError, TimeoutError, OSError) as exc:
            raise BrokerUnavailable(repr(exc)) from None
        for *_, event_id in fresh:
            self._acked[event_id] = None
        while len(self._acked) > self.remember:
            self._acked.popitem(last=False)
        return len(fresh)

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
