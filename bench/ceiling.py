"""The ceiling: a raw aiokafka consumer reading the population, decoding nothing."""

from __future__ import annotations

import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.population import Population
from engine.kafka import client_kwargs
from engine.settings import Settings


async def raw_consumer(settings: Settings, population: Population) -> dict[str, Any]:
    """Events per second of ``getmany`` over every input partition, from the seek to the
    beginning to the last message (one consumer, its default fetch settings, no group)."""
    tps = [
        TopicPartition(topic, partition)
        for topic, parts in population.ends.items()
        for partition, end in parts.items()
        if end > 0
    ]
    consumer = AIOKafkaConsumer(**client_kwargs(settings), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        count, began = 0, time.monotonic()
        while count < population.events:
            batch = await consumer.getmany(timeout_ms=1000)
            count += sum(len(records) for records in batch.values())
            if time.monotonic() - began > 600:
                msg = f"raw consumer read {count} of {population.events} events in 10 minutes"
                raise RuntimeError(msg)
        done = time.monotonic()
    finally:
        await consumer.stop()
    seconds = done - began
    return {
        "events": count,
        "seconds": round(seconds, 3),
        "events_per_s": round(count / seconds) if seconds > 0 else None,
    }
