"""Where a simulation goes: a replay file (JSON lines) or the input topics of a Kafka cluster.

Writers consume the record stream as it is generated, so a quarter of a large
customer base never sits in memory; progress goes to stderr at most once a
second.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Iterable
from typing import IO

import orjson
from aiokafka import AIOKafkaProducer

from engine.kafka import client_kwargs
from engine.settings import Settings
from engine.simulator.generator import Record
from topics.catalogue import INPUT_KINDS, topic_name

_IN_FLIGHT = 5_000
"""Sends awaited in batches: enough to keep the producer's batches full, bounded memory."""


class Progress:
    """Events so far, their rate, and the simulated date, printed at most once per `every` s."""

    def __init__(
        self,
        out: IO[str] | None = None,
        *,
        every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._out = out if out is not None else sys.stderr
        self._every = every
        self._clock = clock
        self._started = clock()
        self._last = self._started
        self.count = 0

    def tick(self, record: Record) -> None:
        self.count += 1
        now = self._clock()
        if now - self._last >= self._every:
            self._last = now
            self._print(record, now)

    def done(self) -> None:
        elapsed = max(self._clock() - self._started, 1e-9)
        print(
            f"{self.count} events in {elapsed:.1f} s ({self.count / elapsed:,.0f} events/s)",
            file=self._out,
        )

    def _print(self, record: Record, now: float) -> None:
        rate = self.count / max(now - self._started, 1e-9)
        simulated = f"{record.sent_at:%Y-%m-%d %H:%M}Z"
        print(
            f"{self.count} events, {rate:,.0f} events/s, simulated {simulated}",
            file=self._out,
            flush=True,
        )


def replay_line(record: Record) -> bytes:
    """`{"topic": ..., "value": ...}`: the message as JSON, or as a string if it is not JSON."""
    topic = record.kind.value.encode()
    if record.fault == "malformed":
        try:
            orjson.loads(record.value)
        except orjson.JSONDecodeError:
            return (
                orjson.dumps({"topic": record.kind.value, "value": record.value.decode()}) + b"\n"
            )
    return b'{"topic":"' + topic + b'","value":' + record.value + b"}\n"


def write_replay(
    records: Iterable[Record], out: IO[bytes], progress: Progress | None = None
) -> int:
    """Write records as replay lines; returns how many were written."""
    written = 0
    for record in records:
        out.write(replay_line(record))
        written += 1
        if progress is not None:
            progress.tick(record)
    return written


class Pacer:
    """Holds the stream back to a target rate, or to simulated time run `speed` times faster.

    With a speed, a record is sent once the wall clock has caught up with its
    simulated send time; otherwise records go at `rate` per second, or as fast
    as possible when neither is given.
    """

    def __init__(
        self,
        *,
        rate: float | None = None,
        speed: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = rate
        self._speed = speed
        self._clock = clock
        self._started = clock()
        self._sent = 0
        self._first: Record | None = None

    def delay(self, record: Record) -> float:
        """Seconds to wait before sending `record` (zero or more)."""
        self._sent += 1
        if self._speed is not None:
            if self._first is None:
                self._first = record
            simulated = (record.sent_at - self._first.sent_at).total_seconds()
            due = self._started + simulated / self._speed
        elif self._rate is not None:
            due = self._started + (self._sent - 1) / self._rate
        else:
            return 0.0
        return max(0.0, due - self._clock())


async def produce(
    records: Iterable[Record],
    settings: Settings,
    prefix: str,
    *,
    pacer: Pacer | None = None,
    progress: Progress | None = None,
) -> int:
    """Send records to the catalogue's input topics under `prefix`; returns how many were sent."""
    topics = {kind: topic_name(kind, prefix) for kind in INPUT_KINDS}
    producer = AIOKafkaProducer(**client_kwargs(settings), linger_ms=20, acks="all")
    await producer.start()
    sent = 0
    try:
        in_flight: list[asyncio.Future[object]] = []
        for record in records:
            if pacer is not None:
                wait = pacer.delay(record)
                if wait > 0:
                    await asyncio.sleep(wait)
            in_flight.append(await producer.send(topics[record.kind], record.value, key=record.key))
            sent += 1
            if progress is not None:
                progress.tick(record)
            if len(in_flight) >= _IN_FLIGHT:
                await asyncio.gather(*in_flight)
                in_flight.clear()
        await asyncio.gather(*in_flight)
    finally:
        await producer.stop()
    return sent
