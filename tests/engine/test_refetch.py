"""Records faust's consumer skipped are read again by the worker's own client, in order,
before the record that revealed the hole (engine.transport.inorder,
engine.transport.batches), against the real broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from faust.types import TP
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from engine.settings import Settings
from engine.worker import PulseWorker
from tests.conftest import TopicFactory


class Batches:
    """What faust's stream hands the agent: batches of events, with holes chosen here."""

    def __init__(self, batches: list[list[Any]]) -> None:
        self.batches = batches
        self.channel = SimpleNamespace(queue=asyncio.Queue())  # the worker watches it

    def take_events(self, _max: int, _within: float) -> AsyncIterator[list[Any]]:
        async def each() -> AsyncIterator[list[Any]]:
            for batch in self.batches:
                yield batch

        return each()


@pytest.fixture
async def records(kafka_bootstrap: str, topic_factory: TopicFactory) -> tuple[str, int]:
    topic = await topic_factory("refetch")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for offset in range(40):
            await producer.send(topic, key=b"k", value=f"v{offset}".encode(), partition=0)
        await producer.flush()
    finally:
        await producer.stop()
    return topic, 40


@pytest.fixture
async def worker(kafka_bootstrap: str, tmp_path: Path) -> AsyncIterator[PulseWorker]:
    settings = Settings.model_validate(
        {
            "kafka_bootstrap": kafka_bootstrap,
            "app_id": f"pulse-refetch-{uuid.uuid4().hex[:8]}",  # a group that never committed
            "topic_prefix": "refetch",
            "data_dir": str(tmp_path),
            "store": "memory://",
        }
    )
    worker = PulseWorker(settings)
    yield worker
    await worker._close_clients()


async def drain(worker: PulseWorker, tp: TP, batches: list[list[Any]]) -> list[list[int]]:
    """The offsets of each batch the agent gets; the worker owns ``tp`` alone."""
    worker.app.consumer.assignment = lambda: {tp}  # type: ignore[method-assign]
    got = []
    async for events, done in worker.batches.of("accounts", Batches(batches)):  # type: ignore[arg-type]
        offsets = [event.message.offset for event in events]
        # each event carries its own record, whoever read it
        assert [event.value for event in events] == [f"v{o}".encode() for o in offsets]
        if offsets:
            assert done == {tp: offsets[-1] + 1}  # commit exactly what the batch holds
        got.append(offsets)
    return got


def counted(worker: PulseWorker, name: str, **labels: str) -> float:
    text = generate_latest(worker.registry).decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == name
        for sample in family.samples
        if sample.name == f"{name}_total" and labels.items() <= sample.labels.items()
    )


async def events_of(worker: PulseWorker, tp: TP, offsets: list[int]) -> list[Any]:
    """The records at these offsets as faust events (read through the worker's reader)."""
    reader = await worker.clients.reader("test")
    kafka_tp = TopicPartition(tp.topic, tp.partition)
    reader.assign([kafka_tp])
    reader.seek(kafka_tp, 0)
    wanted: dict[int, Any] = {}
    while len(wanted) < len(offsets):
        fetched = await reader.getmany(kafka_tp, timeout_ms=1000)
        for record in fetched.get(kafka_tp, []):
            if record.offset in offsets:
                wanted[record.offset] = worker.batches.event_of(tp, record)
    return [wanted[o] for o in offsets]


async def delete_before(admin: AIOKafkaAdminClient, topic: str, offset: int) -> None:
    """What retention does: the partition's records before ``offset`` are gone."""
    await admin.delete_records(
        {TopicPartition(topic, 0): RecordsToDelete(offset)}, timeout_ms=10_000
    )


async def test_skipped_records_are_read_again_and_processed_before_the_next(
    records: tuple[str, int], worker: PulseWorker
) -> None:
    topic, _ = records
    tp = TP(topic, 0)
    # faust hands over 0..4, then drops 5..29 and goes on at 30; later it re-reads 28..31
    batches = [
        await events_of(worker, tp, [0, 1, 2, 3, 4, 30, 31]),
        await events_of(worker, tp, [28, 29, 30, 31, 32]),
    ]
    got = await drain(worker, tp, batches)
    assert got == [[0, 1, 2, 3, 4], list(range(5, 30)), [30, 31], [32]]
    assert counted(worker, "pulse_input_refetched", topic=topic) == 25
    assert counted(worker, "pulse_input_skipped", topic=topic, why="seen") == 4
    assert worker._in_order.next_offset(tp) == 33


@pytest.mark.parametrize(
    "case",
    [
        # (offset the group had read up to, records retention took from it): 5..11 are
        # passed over and counted; a group that never committed starts at the first kept
        (5, 7),
        (None, 0),
    ],
)
async def test_records_deleted_by_retention_are_passed_over(
    records: tuple[str, int],
    worker: PulseWorker,
    kafka_admin: AIOKafkaAdminClient,
    case: tuple[int | None, int],
) -> None:
    read_up_to, deleted = case
    topic, _ = records
    tp = TP(topic, 0)
    later = await events_of(worker, tp, [20, 21])
    await delete_before(kafka_admin, topic, 12)
    if read_up_to is not None:
        worker._in_order.moved(tp, read_up_to)
    got = await drain(worker, tp, [later])
    assert got == [list(range(12, 20)), [20, 21]]
    assert counted(worker, "pulse_input_skipped", topic=topic, why="deleted") == deleted
    assert counted(worker, "pulse_input_refetched", topic=topic) == 8
