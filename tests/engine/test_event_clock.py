"""engine.runtime.event_clock without a broker: a consumer, the broker's end offsets
and the account store stubbed; what it announces recorded.

The case of issue 17's backlog: a partition whose closing event was read before a
rebalance (so this run's marks never saw it) must still reach that event's time once
every topic is read, from the states its store holds."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from faust.types import TP

from engine.envelope import Published
from engine.runtime.event_clock import WATERMARK_HEADER, EventClock
from engine.runtime.store import AccountStore
from engine.transport.clients import Clients, ConsumerOffsets
from signals.state import EPOCH, AccountState, micros

USAGE, BILLING = "p.usage.v1", "p.billing.v1"
DAY_US = 86_400_000_000


class Consumer:
    """What the clock asks faust's consumer: fetched high-waters, committed offsets."""

    def __init__(self) -> None:
        self.highwaters: dict[TP, int] = {}
        self._committed_offset: dict[TP, int] = {}

    def highwater(self, tp: TP) -> int | None:
        return self.highwaters.get(tp)


class Broker:
    def __init__(self, ends: dict[str, int]) -> None:
        self.ends = ends

    async def end_offset(self, topic: str, partition: int) -> int:
        return self.ends[topic]


class Store:
    def __init__(self, states: dict[bytes, AccountState]) -> None:
        self.states = states

    def accounts_in(self, partition: int) -> set[bytes]:
        return set(self.states)

    def peek(self, key: bytes, partition: int) -> tuple[Published, AccountState] | None:
        return Published(), self.states[key]


class Topic:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def send(self, **message: Any) -> None:
        self.sent.extend(
            value for header, value in message["headers"] if header == WATERMARK_HEADER
        )


class Message:
    def __init__(self, topic: str, offset: int) -> None:
        self.topic, self.partition, self.offset = topic, 0, offset
        self.headers: list[tuple[str, bytes]] = []


def clock_over(consumer: Consumer, broker: Broker, store: Store, detour: Topic) -> EventClock:
    offsets = ConsumerOffsets(lambda: consumer, cast(Clients, broker))  # the worker's adapter
    return EventClock(
        offsets,
        cast(AccountStore, store),
        sources={"accounts": (USAGE, BILLING), "users": ()},
        detours={"accounts": {"p-account-events"}, "users": {"p-user-events"}},
        senders={"accounts": [], "users": ["accounts:0"]},  # no detour senders heard
        announce_to={"accounts": (detour,), "users": (detour,)},
        partitions=1,
    )


def at(day: int) -> datetime:
    return EPOCH + timedelta(microseconds=day * DAY_US)


async def test_a_topic_with_unread_records_holds_the_clock_at_its_watermark() -> None:
    consumer = Consumer()
    consumer.highwaters = {TP(USAGE, 0): 10, TP(BILLING, 0): 3}
    clock = clock_over(consumer, Broker({USAGE: 10, BILLING: 3}), Store({}), Topic())

    await clock.now(("accounts", 0), Message(BILLING, 2), at(20_000))
    now = await clock.now(("accounts", 0), Message(USAGE, 4), at(19_990))

    assert micros(now) == 19_990 * DAY_US, "usage has 5 records to read: it holds the clock"


async def test_read_to_the_end_the_clock_reaches_what_the_store_holds() -> None:
    """The closing event (day 20,002) was applied and is held in a state by an earlier
    assignment; this run read usage up to day 20,000 only, and nothing is left."""
    consumer = Consumer()
    consumer.highwaters = {TP(USAGE, 0): 5, TP(BILLING, 0): 3}
    consumer._committed_offset = {TP(BILLING, 0): 3}  # read before the rebalance
    held = AccountState("clock-0")
    held.pending = [[20_002 * DAY_US, "end", "{}"]]
    detour = Topic()
    clock = clock_over(consumer, Broker({USAGE: 5, BILLING: 3}), Store({b"clock-0": held}), detour)

    now = await clock.now(("accounts", 0), Message(USAGE, 4), at(20_000))
    assert micros(now) <= 20_000 * DAY_US, "more may follow the message just read"
    consumer._committed_offset[TP(USAGE, 0)] = 5
    now = await clock.now(("accounts", 0))

    assert micros(now) == 20_002 * DAY_US
    assert clock.clocks[("accounts", 0)] == 20_002 * DAY_US
    assert detour.sent, "the partition announced its clock to the detour's readers"


async def test_the_clock_never_goes_back() -> None:
    consumer = Consumer()
    consumer.highwaters = {TP(USAGE, 0): 1, TP(BILLING, 0): 0}
    clock = clock_over(consumer, Broker({USAGE: 1, BILLING: 0}), Store({}), Topic())
    await clock.now(("accounts", 0), Message(USAGE, 0), at(20_000))
    consumer._committed_offset[TP(USAGE, 0)] = 1
    assert micros(await clock.now(("accounts", 0))) == 20_000 * DAY_US

    consumer.highwaters[TP(USAGE, 0)] = 2  # a late record of an older day arrives
    now = await clock.now(("accounts", 0), Message(USAGE, 1), at(19_000))

    assert micros(now) == 20_000 * DAY_US
