"""A real faust worker process consumes topic A and produces topic B on the local broker."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from engine.smoke import smoke_worker
from tests.conftest import TopicFactory


async def test_worker_transforms_every_message(
    kafka_bootstrap: str, topic_factory: TopicFactory, tmp_path: Path
) -> None:
    source = await topic_factory("faust-in", partitions=3)
    sink = await topic_factory("faust-out", partitions=3)
    expected: dict[bytes, list[bytes]] = defaultdict(list)
    log = tmp_path / "worker.log"
    app_id = f"test-faust-{uuid.uuid4().hex[:8]}"
    with smoke_worker(kafka_bootstrap, app_id, source, sink, log) as worker:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for i in range(300):
                key = f"acct-{i % 11}".encode()
                value = f"usage event {i}".encode()
                expected[key].append(value.upper())
                await producer.send(source, key=key, value=value)
            await producer.flush()
        finally:
            await producer.stop()

        consumer = AIOKafkaConsumer(
            sink, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest", group_id=None
        )
        await consumer.start()
        got: dict[bytes, list[bytes]] = defaultdict(list)
        deadline = time.monotonic() + 90
        try:
            while sum(map(len, got.values())) < 300 and time.monotonic() < deadline:
                assert worker.poll() is None, f"worker died:\n{log.read_text()[-3000:]}"
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for record in records:
                        got[record.key or b""].append(record.value or b"")
        finally:
            await consumer.stop()

    assert got == expected, f"worker log tail:\n{log.read_text()[-3000:]}"
    assert worker.returncode == 0, "worker did not shut down cleanly on SIGTERM"
