"""The faust app a worker runs: faust's, with a consumer that commits what the agents
say was processed (engine.transport.inorder) and fetches without dawdling.

faust builds its aiokafka consumer with ``fetch_max_wait_ms=1500`` written into the
code, with no setting to change it. aiokafka keeps at most one fetch in flight per
broker, and leaves out of it the partitions that still have fetched records waiting to
be handed over. So when the worker is keeping up, the fetch in flight usually asks only
for partitions with nothing new, and the broker holds it for the full 1.5 s; records
arriving meanwhile on the partitions left out wait for it to come back. Under steady
load that was most of Pulse's event-to-trigger latency (bench section 5).

``FETCH_WAIT_MS`` bounds that wait; with data flowing the broker answers at once anyway,
so the only cost is more (empty) fetch requests on an idle worker.

Seeks to committed offsets: after a rebalance and table recovery faust seeks every
assigned partition back to the group's committed offset, through aiokafka's
``seek_to_committed``, which seeks only where the committed offset is above 0. A
partition the group never committed (or committed at 0) kept the position its
prefetch had reached while faust was not handing records over, so those records were
silently skipped; with nothing after them on the partition, no later record revealed
the hole and the worker sat with lag it would never read (the SIGKILL test's stall).
``_ConsumerThread.seek_to_committed`` seeks every partition the agents read: to its
committed offset, or to its first offset when there is none.

Queues kept through flow-control resumes: faust clears every agent's input queue
whenever flow control resumes (twice in each rebalance's recovery), expecting the seek
to committed offsets to bring the records back. But the seek runs before the last
clear, so records fetched after it and queued before the clear were dropped, and when
nothing came after them on their partition no later record revealed the hole either.
Pulse's agents skip re-read records themselves (engine.transport.inorder) and leave records of
partitions no longer assigned to their new owner, so their queues (``InputTopic``) are
not cleared.

Records fetched but never delivered are put back: faust's fetch loop drops what it
fetched when flow stops for a rebalance before the records were handed on (a fetch
begun before the rebalance can return after the new generation's table recovery
sought its changelog partitions, while flow is still stopped), and gives up on a
record whose delivery flow stopped in the middle of. The consumer's position is then
past records nobody read. For an input partition the seek to committed offsets after
recovery repairs that, but nothing repairs a changelog partition: recovery waited
forever for records already behind the position (the rebalance test's stall), or,
with later records arriving, restored a table missing some of them.
``_Consumer.getmany`` seeks each such partition back to its first undelivered record
(``undelivered``); only ever backwards, so a seek that came meanwhile is never
skipped past, and whatever is read twice is skipped (recovery keeps the offsets it
applied; the agents, engine.transport.inorder). The same goes for events faust threw away
after delivery, from the changelog queue it clears whenever flow resumes
(``PuttingBackQueue``): until they are read again, later records of their partition
are held back, or recovery would apply those and skip the lost ones for good.

Commits: the offset committed for an input partition is the agents' cursor as of
their last settled batch (``PulseApp.committable``), never faust's own reckoning from
acknowledgements and "gaps", which could skip records it had dropped.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, cast

import aiokafka
import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message, TransportT
from mode.utils.queues import ThrowableQueue

log = logging.getLogger(__name__)

FETCH_WAIT_MS = 50
"""The longest a fetch may wait on the broker for data (faust: 1,500 ms)."""


def undelivered(
    fetched: Mapping[TP, Sequence[int]], delivered: Mapping[TP, int], lost: Mapping[TP, int]
) -> dict[TP, int]:
    """Per partition of a fetched batch, the first offset nobody received, if any.

    ``fetched``: the batch's offsets per partition, in order; ``delivered``: the last
    offset handed on per partition; ``lost``: the first offset whose delivery was
    given up. Records are handed on in order within a partition, so what follows the
    last one delivered, or the first one lost, was not."""
    starts = dict(lost)
    for tp, offsets in fetched.items():
        if tp in lost:
            continue
        last = delivered.get(tp)
        rest = [o for o in offsets if last is None or o > last]
        if rest:
            starts[tp] = rest[0]
    return starts


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # Read once, when the consumer starts its fetcher (aiokafka 0.8-0.14).
        consumer._fetch_max_wait_ms = FETCH_WAIT_MS
        return consumer

    async def seek_to_committed(self) -> Mapping[TP, int]:
        return cast(Mapping[TP, int], await self.call_thread(self._seek_all_to_committed))

    async def _seek_all_to_committed(self) -> dict[aiokafka.TopicPartition, int | None]:
        """Every assigned partition of a topic the agents read (the ones faust commits)
        to its committed offset, or to its first offset when the group never committed
        one: where engine.transport.inorder's cursors start. Other partitions (table changelogs,
        positioned by recovery) are sought only where aiokafka would, to a committed
        offset above 0. Returns the committed offsets as aiokafka does (None: none)."""
        consumer = self._ensure_consumer()
        acking = self.app.topics.acking_topics
        committed: dict[aiokafka.TopicPartition, int | None] = {}
        never: list[aiokafka.TopicPartition] = []
        for tp in consumer.assignment():
            offset = await consumer.committed(tp)
            committed[tp] = offset
            if offset is not None and (offset > 0 or (offset == 0 and tp.topic in acking)):
                consumer.seek(tp, offset)
            elif offset is None and tp.topic in acking:
                never.append(tp)
        if never:
            await consumer.seek_to_beginning(*never)
        return committed

    async def seek_here(self, tp: TP, offset: int) -> None:
        """Seek one partition, on the consumer's own thread (its fetcher's state is not
        for another thread to change); no waiting for the new position."""
        await self.call_thread(self._seek_here, tp, offset)

    async def _seek_here(self, tp: TP, offset: int) -> None:
        self._ensure_consumer().seek(aiokafka.TopicPartition(tp.topic, tp.partition), offset)

    async def rewind(self, tp: TP, offset: int) -> bool:
        """Seek a partition back to ``offset`` if it is assigned and its position is
        past it, on the consumer's thread; True if it did."""
        return cast(bool, await self.call_thread(self._rewind, tp, offset))

    async def _rewind(self, tp: TP, offset: int) -> bool:
        return rewind(self._ensure_consumer(), tp, offset)


def rewind(consumer: aiokafka.AIOKafkaConsumer, tp: TP, offset: int) -> bool:
    """Seek ``tp`` back to ``offset`` when it is assigned and its position is past it.

    Never forward: a seek made since (by table recovery, or to committed offsets) is
    only ever read again from earlier, never skipped past. A partition awaiting an
    offset reset has no position to compare and is left to the reset."""
    atp = aiokafka.TopicPartition(tp.topic, tp.partition)
    subscription = consumer._subscription.subscription
    assignment = subscription.assignment if subscription is not None else None
    if assignment is None or atp not in assignment.tps:
        return False
    state = assignment.state_value(atp)
    if not state.has_valid_position or state.position <= offset:
        return False
    consumer.seek(atp, offset)
    return True


class _Consumer(faust_aiokafka.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fetched: Mapping[TP, Sequence[Any]] = {}
        self._entered: Message | None = None
        self._handed: Message | None = None
        self._put_back: dict[TP, int] = {}
        handle = self.callback

        async def on_message(message: Message) -> None:
            self._entered = message
            await handle(message)
            self._handed = message  # reached: flow did not stop under it

        self.callback = on_message

    def put_back(self, firsts: Mapping[TP, int]) -> None:
        """Records from these offsets on were taken from this consumer and then thrown
        away (``PuttingBackQueue``): the next batch reads them again."""
        for tp, offset in firsts.items():
            self._put_back[tp] = min(offset, self._put_back.get(tp, offset))

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _wait_next_records(self, timeout: float) -> tuple[Any, Any]:  # noqa: ASYNC109
        records, active = await super()._wait_next_records(timeout)
        self._fetched = records or {}
        return records, active

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:  # noqa: ASYNC109
        """faust's, then put back what it fetched but did not deliver (see above)."""
        self._fetched = {}
        delivered: dict[TP, int] = {}
        lost: dict[TP, int] = {}
        put_back = self._put_back
        async for tp, message in super().getmany(timeout):
            if tp in put_back:  # it follows records thrown away: wait for those
                lost.setdefault(tp, message.offset)
                continue
            read = self._read_offset.get(tp)
            self._entered = self._handed = None
            yield tp, message
            if self._handed is message:
                delivered[tp] = message.offset
            elif self._entered is not message and read is not None and message.offset < read:
                delivered[tp] = message.offset  # faust dropped it on purpose: read already
            else:
                lost.setdefault(tp, message.offset)
            self._entered = self._handed = None
        fetched = {tp: [r.offset for r in records] for tp, records in self._fetched.items()}
        self._fetched = {}
        if self.should_stop:
            return
        for tp, offset in put_back.items():
            lost[tp] = min(offset, lost.get(tp, offset))
        put_back.clear()
        for tp, offset in undelivered(fetched, delivered, lost).items():
            if await cast(_ConsumerThread, self._thread).rewind(tp, offset):
                read = self._read_offset.get(tp)
                if read is not None and read >= offset:
                    self._read_offset[tp] = offset if offset else None
                log.info(
                    "%s[%d]: read again from offset %d: fetched but never delivered "
                    "(flow stopped for a rebalance, or a queue was cleared)",
                    tp.topic,
                    tp.partition,
                    offset,
                )

    async def seek_back(self, tp: TP, offset: int) -> None:
        """faust's ``seek`` without touching the fetcher from this thread: the partition
        reads again from ``offset``, and faust takes the records it hands over again."""
        await cast(_ConsumerThread, self._thread).seek_here(tp, offset)
        self._read_offset[tp] = offset if offset else None

    def on_buffer_full(self, tp: TP) -> None:
        """Keep fetching a partition whose agent has a full buffer.

        faust takes such a partition out of its fetches and puts it back from a callback
        of the agent's queue, which mode runs only when the agent finds the queue empty.
        The SIGKILL test caught a worker idle for minutes with an empty queue, input
        unread and its fetcher sleeping for want of partitions to fetch. Without this,
        a full buffer makes faust's fetcher wait on a blocking put into it
        (Conductor.on_message), which is back-pressure enough for Pulse: one agent
        reads all the account-keyed topics, so there is no other stream to starve."""

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        """No gaps: Pulse reads no compacted or transactional topic through its agents,
        so a jump in offsets is records this consumer dropped (engine.transport.inorder)."""

    def _new_offset(self, tp: TP) -> int | None:
        committable = cast(PulseApp, self.app).committable
        if committable is None:
            return super()._new_offset(tp)
        offset = committable.get(tp)
        acked = self._acked.get(tp)
        if acked and offset is not None:  # forget acknowledgements the commit covers
            done = [o for o in acked if o < offset]
            if done:
                self._acked_index[tp].difference_update(done)
                acked[:] = [o for o in acked if o >= offset]
        return offset


class PuttingBackQueue(ThrowableQueue[Any]):
    """A flow-control queue that clears on resume, as faust's table changelog queue
    does, but hands what it throws away back to the consumer to read again.

    faust clears the changelog queue whenever flow resumes. Right after recovery sought
    the changelog partitions that drops only stale events, but recovery resumes flow
    again once the standby partitions are reading, and mode's clear also cancels a put
    waiting for room, which faust's conductor then takes for a delivered event. Either
    way recovery goes on to apply later records and skips the lost ones for good, since
    it keeps only offsets above what it has applied. Here each partition's first offset
    thrown away, queued or waiting, is reported (``on_dropped``)."""

    def __init__(
        self, *args: Any, on_dropped: Callable[[Mapping[TP, int]], None], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._on_dropped = on_dropped
        self._clears = 0

    def clear(self) -> None:
        firsts = _first_offsets(self._queue)  # type: ignore[attr-defined]
        super().clear()
        self._clears += 1
        if firsts:
            self._on_dropped(firsts)

    async def put(self, value: Any) -> None:
        clears = self._clears
        try:
            await super().put(value)  # may wait for room
        finally:
            if self._clears != clears:  # cancelled by the clear (or put in after it)
                with contextlib.suppress(ValueError):
                    self._queue.remove(value)  # type: ignore[attr-defined]
                self._on_dropped(_first_offsets([value]))


def _first_offsets(events: Iterable[Any]) -> dict[TP, int]:
    firsts: dict[TP, int] = {}
    for event in events:
        message = getattr(event, "message", None)
        if message is not None:
            tp, offset = message.tp, message.offset
            firsts[tp] = min(offset, firsts.get(tp, offset))
    return firsts


class InputTopic(faust.Topic):
    """A topic an agent reads whose queue flow control does not clear (see above)."""

    @property
    def queue(self) -> ThrowableQueue[Any]:
        if self._queue is None:
            maxsize = self.maxsize
            if maxsize is None:
                maxsize = self.app.conf.stream_buffer_maxsize
            self._queue = self.app.FlowControlQueue(maxsize=maxsize, clear_on_resume=False)
        return self._queue


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class PulseApp(faust.App):
    """faust.App with the consumer above."""

    committable: dict[TP, int] | None = None
    """Set by the worker: per input partition, the offset its agents say may be committed."""
    on_agents_idle: Callable[[], Awaitable[None]] | None = None
    """Set by the worker: run when the agents have finished their batches before a
    revocation or a stop (``_consumer_wait_empty``)."""

    async def _consumer_wait_empty(self, consumer: Any, logger: Any) -> None:
        """faust's wait for the agents to finish the batches in hand, then the worker's
        ``on_agents_idle``.

        Workaround, no hook between the agents' last batch and the end of ownership:
        before revoking partitions and before stopping its tables, faust waits for
        the agents here (a private method; of its signals, shutdown's comes after the
        tables have stopped, so only this place serves both). A worker
        whose commits span several batches (engine.runtime.checkpoint) must write
        its states right here, while it owns their partitions and its tables are
        open, or the new owner would restore states without them."""
        await super()._consumer_wait_empty(consumer, logger)
        if self.on_agents_idle is not None:
            await self.on_agents_idle()

    def _new_transport(self) -> TransportT:
        return _Transport(self.conf.broker_consumer, self)

    def FlowControlQueue(
        self, maxsize: int | None = None, *, clear_on_resume: bool = False
    ) -> ThrowableQueue[Any]:
        if not clear_on_resume:
            return super().FlowControlQueue(maxsize, clear_on_resume=False)
        return PuttingBackQueue(
            maxsize=maxsize or 0,
            flow_control=self.flow_control,
            clear_on_resume=True,
            on_dropped=lambda firsts: cast(_Consumer, self.consumer).put_back(firsts),
        )


def highwater(consumer: Any, tp: TP) -> int | None:
    """The end offset of ``tp`` the consumer's last fetch saw; None when not known yet,
    or when the partition was revoked a moment ago (aiokafka asserts it is assigned)."""
    try:
        return cast(int | None, consumer.highwater(tp))
    except (AssertionError, AttributeError):
        return None


def committed_offset(consumer: Any, tp: TP) -> int | None:
    """The group's committed position of ``tp`` (the next offset to read): messages
    before it were processed by an earlier run. faust keeps it in a private map
    (``Consumer._committed_offset``); there is no public accessor."""
    return cast(int | None, consumer._committed_offset.get(tp))


def event_from_record(app: faust.App, tp: TP, record: Any) -> faust.Event:
    """A record read by one of our own aiokafka clients, as the faust event an agent
    handles (engine.transport.batches re-reads records faust skipped). faust builds its
    messages with the private ``Consumer._to_message``; there is no public way."""
    message = cast(Any, app.consumer)._to_message(tp, record)
    return faust.Event(app, record.key, record.value, record.headers, message)
