"""The local broker is a real Kafka: partitions, keys and per-key order hold."""

from __future__ import annotations

from collections import defaultdict

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.conftest import TopicFactory


async def test_keyed_messages_come_back_in_per_key_order(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory("order", partitions=4)
    keys = [f"account-{i}".encode() for i in range(10)]
    sent: dict[bytes, list[bytes]] = defaultdict(list)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(500):
            key = keys[i % len(keys)]
            value = f"{key.decode()}:{i}".encode()
            sent[key].append(value)
            await producer.send(topic, key=key, value=value)
        await producer.flush()
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    received: dict[bytes, list[bytes]] = defaultdict(list)
    partitions_by_key: dict[bytes, set[int]] = defaultdict(set)
    try:
        for _ in range(40):
            batch = await consumer.getmany(timeout_ms=500)
            for tp, records in batch.items():
                for record in records:
                    assert record.key is not None
                    assert record.value is not None
                    received[record.key].append(record.value)
                    partitions_by_key[record.key].add(tp.partition)
            if sum(map(len, received.values())) >= 500:
                break
    finally:
        await consumer.stop()

    assert received == sent
    assert all(len(p) == 1 for p in partitions_by_key.values()), "a key spread over partitions"
    assert len(set().union(*partitions_by_key.values())) > 1, "all keys landed in one partition"
