"""A small run against the real broker lands every record on its topic under its key."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from engine.settings import load_settings
from engine.simulator import Simulation, SimulationConfig
from engine.simulator.writers import produce
from engine.topics_admin import ensure_topics
from topics.catalogue import INPUT_KINDS, catalogue, topic_name

pytestmark = pytest.mark.broker


async def test_records_land_on_the_input_topics_keyed_by_account(
    kafka_bootstrap: str, kafka_admin: AIOKafkaAdminClient
) -> None:
    prefix = f"test-sim-{uuid.uuid4().hex[:10]}"
    specs = catalogue(prefix, partitions=3)
    await ensure_topics(kafka_admin, specs, replication=1)
    try:
        records = list(
            Simulation(SimulationConfig(accounts=5, days=7, malformed_rate=0.01)).records()
        )
        expected = Counter((topic_name(r.kind, prefix), r.key, r.value) for r in records)
        sent = await produce(records, load_settings(kafka_bootstrap=kafka_bootstrap), prefix)
        assert sent == len(records) > 100

        consumer = AIOKafkaConsumer(
            *(topic_name(kind, prefix) for kind in INPUT_KINDS),
            bootstrap_servers=kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        received: Counter[tuple[str, bytes | None, bytes | None]] = Counter()
        try:
            async with asyncio.timeout(30):
                while received.total() < len(records):
                    batches = await consumer.getmany(timeout_ms=1000)
                    for messages in batches.values():
                        received.update((m.topic, m.key, m.value) for m in messages)
        finally:
            await consumer.stop()
        assert received == expected
    finally:
        await kafka_admin.delete_topics([s.name for s in specs])
