"""Putting back records faust fetched but never delivered, or threw away after
delivering them (engine.transport.faust_app): which offsets are read again, the queue that
reports what faust clears from it, and the seek that does it, against the real
broker."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from faust.types import TP
from mode.utils.queues import FlowControlEvent

from engine.transport.faust_app import PuttingBackQueue, rewind, undelivered
from tests.conftest import TopicFactory

A, B = TP("a", 0), TP("b", 1)


def test_nothing_to_put_back_when_every_record_was_delivered() -> None:
    assert undelivered({A: [3, 4, 5], B: [9]}, {A: 5, B: 9}, {}) == {}


def test_records_after_the_last_delivered_are_put_back() -> None:
    # a rebalance stopped the batch after A's offset 4; B got nothing
    assert undelivered({A: [3, 4, 5, 6], B: [9, 10]}, {A: 4}, {}) == {A: 5, B: 9}


def test_a_record_whose_delivery_was_given_up_is_read_again_with_what_follows() -> None:
    assert undelivered({A: [3, 4, 5]}, {A: 3}, {A: 4}) == {A: 4}


def test_gaps_in_a_compacted_changelog_put_back_the_next_offset_present() -> None:
    assert undelivered({A: [10, 14, 20]}, {A: 10}, {}) == {A: 14}


def test_records_thrown_away_earlier_are_put_back_with_no_record_in_the_batch() -> None:
    assert undelivered({A: [3]}, {A: 3}, {B: 7}) == {B: 7}


@dataclass
class _Message:
    tp: TP
    offset: int


@dataclass
class _Event:
    message: _Message


def _queue(maxsize: int = 0) -> tuple[PuttingBackQueue, list[dict[TP, int]]]:
    dropped: list[dict[TP, int]] = []
    flow = FlowControlEvent(initially_suspended=False)
    queue = PuttingBackQueue(
        maxsize=maxsize, flow_control=flow, clear_on_resume=True, on_dropped=dropped.append
    )
    return queue, dropped


async def test_a_cleared_queue_reports_each_partitions_first_offset_thrown_away() -> None:
    queue, dropped = _queue()
    for tp, offset in [(A, 5), (B, 9), (A, 6), (A, 7)]:
        queue.put_nowait(_Event(_Message(tp, offset)))
    queue.clear()
    assert queue.empty()
    assert dropped == [{A: 5, B: 9}]
    queue.clear()  # nothing more thrown away, nothing reported
    assert dropped == [{A: 5, B: 9}]


async def test_a_put_waiting_for_room_when_the_queue_is_cleared_is_reported() -> None:
    queue, dropped = _queue(maxsize=1)
    queue.put_nowait(_Event(_Message(A, 1)))
    late = asyncio.ensure_future(queue.put(_Event(_Message(A, 2))))
    await asyncio.sleep(0)  # it waits: the queue is full
    queue.clear()  # faust, when flow resumes: mode cancels the waiting put
    await asyncio.wait([late], timeout=1)
    assert late.done()
    assert queue.empty()
    assert dropped == [{A: 1}, {A: 2}]  # the cancelled put is read again too


async def test_puts_that_no_clear_came_between_are_kept() -> None:
    queue, dropped = _queue(maxsize=1)
    queue.put_nowait(_Event(_Message(A, 1)))
    waiting = asyncio.ensure_future(queue.put(_Event(_Message(A, 2))))
    await asyncio.sleep(0)
    assert (await queue.get()).message.offset == 1
    await asyncio.wait_for(waiting, 1)
    assert (await queue.get()).message.offset == 2
    assert dropped == []


async def _consumer_at_end(bootstrap: str, topic: str, count: int) -> AIOKafkaConsumer:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for i in range(count):
            await producer.send(topic, str(i).encode(), partition=0)
        await producer.flush()
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    consumer.assign([TopicPartition(topic, 0)])
    read = 0
    while read < count:
        batch = await consumer.getmany(timeout_ms=5000)
        assert batch, f"read only {read} of {count} records"
        read += sum(len(records) for records in batch.values())
    return consumer


async def _read_all(consumer: AIOKafkaConsumer) -> list[int]:
    offsets: list[int] = []
    for _ in range(3):
        batch = await consumer.getmany(timeout_ms=1000)
        offsets += [r.offset for records in batch.values() for r in records]
    return offsets


async def test_rewind_reads_the_records_again_from_the_offset(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory("rewind")
    consumer = await _consumer_at_end(kafka_bootstrap, topic, 10)
    try:
        assert rewind(consumer, TP(topic, 0), 4) is True
        assert await _read_all(consumer) == [4, 5, 6, 7, 8, 9]
    finally:
        await consumer.stop()


async def test_rewind_never_moves_a_partition_forward_nor_touches_one_not_assigned(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory("rewind")
    consumer = await _consumer_at_end(kafka_bootstrap, topic, 10)
    try:
        consumer.seek(TopicPartition(topic, 0), 2)  # e.g. recovery sought it since
        assert await consumer.position(TopicPartition(topic, 0)) == 2
        assert rewind(consumer, TP(topic, 0), 6) is False  # would skip 2..5
        assert rewind(consumer, TP(topic, 0), 2) is False  # already there
        assert rewind(consumer, TP(f"{topic}-other", 0), 0) is False
        assert await _read_all(consumer) == list(range(2, 10))
    finally:
        await consumer.stop()
