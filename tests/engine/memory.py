"""The worker's pipeline over an in-memory broker: no Kafka, no faust, same runtime.

``engine.runtime.pipeline.Pipeline`` is what a worker's agents run; here it runs over
``MemoryBroker``: topics as lists, tables as dicts per partition with their changelog,
committed offsets per partition. What a worker produces or writes reaches the broker
only once acknowledged (or flushed), and is lost if the worker crashes first.
``MemoryWorker`` drives it the way faust does: batches that mix partitions in an order
a seeded random source chooses, tick messages from a timer, a checkpoint after each
batch (engine.runtime.checkpoint), revocations that make the runtime forget, and
crashes (``Crash``) before any commit step, after which a fresh worker reads on from
the committed offsets and the tables.

Kafka Streams' ``TopologyTestDriver`` and bytewax's testing source and sink do the same
for their runtimes. The real-broker tests (test_worker.py, test_backlog.py, tests/faults)
stay: this one runs the logic, they run the transport.
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from engine.metrics import Metrics
from engine.routing import partition_for
from engine.runtime.checkpoint import Checkpoint
from engine.runtime.pipeline import STATE_TABLE, Pipeline, Ports
from engine.settings import Settings
from engine.transport.delivery import Deliveries, track, tracking
from engine.verify import OUTPUT_KINDS, RunOutput, event_clock_config
from signals.config import SignalsConfig
from signals.core import SignalProcessor
from signals.rules import RuleSet
from topics.catalogue import TopicKind, topic_name

COMMIT_STEPS = ("outputs", "states", "changelog", "offsets")
"""engine.runtime.checkpoint's numbered steps; a crash may come before any of them."""


class Crash(BaseException):
    """The process dies here (not an Exception: no handler of the runtime catches it)."""


@dataclass(frozen=True, slots=True)
class Message:
    """What the runtime reads of a faust message."""

    topic: str
    partition: int
    offset: int
    headers: list[tuple[str, bytes]]
    timestamp: float = 0.0


@dataclass(frozen=True, slots=True)
class Event:
    """What the runtime reads of a faust event."""

    message: Message
    key: bytes | None
    value: bytes


class Stored:
    """A table as the broker keeps it: each partition's values, and its changelog (every
    value that reached the broker, in order)."""

    def __init__(self, partitions: int) -> None:
        self.parts: list[dict[bytes, bytes]] = [{} for _ in range(partitions)]
        self.changelog: list[bytes] = []


_GONE = object()
"""A deletion not yet on the changelog."""


class MemoryTable:
    """One worker's view of a table: its own writes at once (its local store), the
    broker's only once their changelog message is acknowledged (tracked, as
    engine.transport.delivery.TrackedTable's are). A crashed worker's unacknowledged
    writes are gone. Reads and writes go to a partition as faust's do: named
    (``get_in``, ``set_for``'s message), or the current event's (``bind``)."""

    def __init__(self, broker: MemoryBroker, stored: Stored, owns: Callable[[int], bool]) -> None:
        self.broker, self.stored, self.owns = broker, stored, owns
        self.local: list[dict[bytes, Any]] = [{} for _ in stored.parts]
        self.partition: int | None = None
        """The current event's partition (set by ``bind``): plain access needs it."""

    def _here(self) -> int:
        if self.partition is None:
            raise AssertionError("plain table access with no current event (bind)")
        return self.partition

    def get_in(self, partition: int, key: bytes) -> bytes | None:
        value = self.local[partition].get(key, self.stored.parts[partition].get(key))
        return None if value is _GONE else value

    def set_for(self, message: Any, key: bytes, value: bytes) -> None:
        self._write(message.message.partition, key, value)

    def _write(self, partition: int, key: bytes, value: Any) -> None:
        if not self.owns(partition):
            msg = (
                f"a write to partition {partition}, which this worker no longer owns: "
                "it would overwrite what its new owner restored"
            )
            raise AssertionError(msg)
        self.local[partition][key] = value

        def durable() -> None:
            if value is _GONE:
                self.stored.parts[partition].pop(key, None)
            else:
                self.stored.parts[partition][key] = value
                self.stored.changelog.append(value)

        track(self.broker.in_flight(durable))

    def get(self, key: bytes, default: Any = None) -> Any:
        value = self.get_in(self._here(), key)
        return default if value is None else value

    def __getitem__(self, key: bytes) -> bytes:
        value = self.get_in(self._here(), key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._write(self._here(), key, value)

    def __delitem__(self, key: bytes) -> None:
        self._write(self._here(), key, _GONE)

    def __iter__(self) -> Iterator[bytes]:
        """Every key of every partition (a faust table iterates its local stores)."""
        for stored, local in zip(self.stored.parts, self.local, strict=True):
            for key in {**stored, **local}:
                if local.get(key, stored.get(key)) is not _GONE:
                    yield key


class _Delivery:
    """An acknowledgement to wait for: awaited, the producer has sent everything up to
    and including its message (a producer keeps its send order)."""

    def __init__(self, broker: MemoryBroker, number: int) -> None:
        self.broker, self.number = broker, number

    def __await__(self) -> Generator[Any, None, None]:
        self.broker.deliver(self.number)
        yield from ()


class MemoryTopic:
    def __init__(self, broker: MemoryBroker, name: str) -> None:
        self.broker, self.name = broker, name

    async def send(
        self,
        *,
        key: bytes | None,
        value: bytes,
        partition: int | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> _Delivery:
        """Hand the message to the producer: on the topic once acknowledged, or once
        the producer flushes; lost if the worker crashes first."""
        name = self.name
        return self.broker.in_flight(
            lambda: self.broker.produce(name, key, value, partition, headers)
        )


class MemoryBroker:
    """Topics of ``partitions`` partitions each, the group's committed offsets, tables."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.logs: dict[str, list[list[tuple[bytes | None, bytes, list[Any]]]]] = {}
        self.committed: dict[tuple[str, int], int] = {}
        self.tables: dict[str, Stored] = defaultdict(lambda: Stored(partitions))
        self._sent: list[tuple[int, Callable[[], None]]] = []
        """What producers were handed and the broker has not got yet, in send order."""
        self._numbers = itertools.count()

    def in_flight(self, arrive: Callable[[], None]) -> _Delivery:
        number = next(self._numbers)
        self._sent.append((number, arrive))
        return _Delivery(self, number)

    def deliver(self, upto: int | None = None) -> None:
        """The producer sends what it was handed, up to message ``upto`` (all: None)."""
        while self._sent and (upto is None or self._sent[0][0] <= upto):
            _, arrive = self._sent.pop(0)
            arrive()

    def crashed(self) -> None:
        """A worker died: what its producer had not sent is lost."""
        self._sent.clear()

    def log(self, topic: str, partition: int) -> list[tuple[bytes | None, bytes, list[Any]]]:
        if topic not in self.logs:
            self.logs[topic] = [[] for _ in range(self.partitions)]
        return self.logs[topic][partition]

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        partition: int | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> None:
        if partition is None:
            if key is None:
                msg = f"a message to {topic} with neither key nor partition"
                raise ValueError(msg)
            partition = partition_for(key, self.partitions)
        self.log(topic, partition).append((key, value, list(headers or ())))

    def values(self, topic: str) -> list[bytes]:
        """Everything on a topic, partition by partition."""
        return [value for part in self.logs.get(topic, []) for _, value, _ in part]

    # -- what the event clock asks (engine.runtime.event_clock.Offsets) ---------------

    def highwater(self, topic: str, partition: int) -> int | None:
        return len(self.log(topic, partition))

    def committed_offset(self, topic: str, partition: int) -> int | None:
        return self.committed.get((topic, partition))

    async def end_offset(self, topic: str, partition: int) -> int:
        return len(self.log(topic, partition))


@dataclass
class BrokerOffsets:
    """engine.runtime.event_clock.Offsets over a MemoryBroker."""

    broker: MemoryBroker

    def highwater(self, topic: str, partition: int) -> int | None:
        return self.broker.highwater(topic, partition)

    def committed(self, topic: str, partition: int) -> int | None:
        return self.broker.committed_offset(topic, partition)

    async def end_offset(self, topic: str, partition: int) -> int:
        return await self.broker.end_offset(topic, partition)


@dataclass
class FakeTime:
    """The monotonic clock of idle allowances and announcements, moved by the driver."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Plan:
    """How a MemoryWorker reads: the seeded order, batch sizes, crashes."""

    seed: int = 0
    batch: int = 50
    """Most messages in one batch."""
    run: int = 8
    """Most messages taken from one partition before the next pick."""
    seconds_per_message: float = 0.001
    """How far the monotonic clock moves per message handled: faster than the worker
    reads, so heartbeats and idle allowances come in proportion, never a flood."""
    commit_every: float = 0.2
    """The accounts agent's commit interval in the clock's seconds (about four batches
    of 50); 0 commits every batch."""
    crashes: dict[int, str] = field(default_factory=dict)
    """batch number -> the commit step (COMMIT_STEPS) the worker dies before, at that
    batch or the first after it that has the step; batches are counted over the
    worker's life across restarts."""


class _Offsets:
    """The checkpoint's last step: the batch's input offsets become committed."""

    def __init__(self, worker: MemoryWorker) -> None:
        self.worker = worker

    def settled(self, done: dict[tuple[str, int], int]) -> None:
        self.worker.crash_point("offsets")
        for tp, offset in done.items():
            self.worker.broker.committed[tp] = max(offset, self.worker.broker.committed.get(tp, 0))


class _Store:
    """The account store as the checkpoint sees it: a crash may come before a commit's
    states are frozen, or after the last of them is written and before the changelog
    is settled."""

    def __init__(self, worker: MemoryWorker) -> None:
        self.worker = worker

    @property
    def changed(self) -> int:
        return self.worker.pipeline.store.changed

    def freeze(self) -> None:
        self.worker.crash_point("states")
        self.worker.pipeline.store.freeze()

    def drain(self, limit: int | None = None) -> int:
        left = self.worker.pipeline.store.drain(limit)
        if not left:
            self.worker.crash_point("changelog")
        return left


class MemoryWorker:
    """One worker process: a Pipeline over the broker, owning some partitions."""

    def __init__(
        self,
        broker: MemoryBroker,
        settings: Settings,
        config: SignalsConfig,
        rules: RuleSet,
        owned: Iterable[int],
        *,
        plan: Plan | None = None,
        time: FakeTime | None = None,
    ) -> None:
        self.broker, self.settings, self.config, self.rules = broker, settings, config, rules
        self.plan = plan or Plan()
        self.time = time or FakeTime()
        self.rng = random.Random(self.plan.seed)
        self.batches = 0
        self.crashes = 0
        self.tables: dict[str, MemoryTable] = {}
        if settings.clock == "event":  # as the worker runs it (PulseWorker.__init__)
            config = event_clock_config(config)
        ports = Ports(
            topic=lambda name: MemoryTopic(broker, name),
            table=self._table,
            offsets=BrokerOffsets(broker),
            bind=self._bind,
        )
        processor = SignalProcessor(config, rules)
        self.registry = CollectorRegistry()
        self.pipeline = Pipeline(
            settings, config, processor, Metrics(self.registry), ports, monotonic=self.time
        )
        self.owned: set[int] = set()
        self.positions: dict[tuple[str, int], int] = {}
        self.account_sent, self.user_sent = Deliveries(), Deliveries()
        self.commits = Checkpoint(
            self.account_sent,
            _Offsets(self),  # type: ignore[arg-type]
            _Store(self),
            interval=self.plan.commit_every,
            monotonic=self.time,
        )
        self.assign(owned)

    def metric(self, name: str, **labels: str) -> float:
        """A sample of this worker's Prometheus metrics (0 when never set)."""
        return self.registry.get_sample_value(name, labels) or 0.0

    def _table(self, name: str) -> MemoryTable:
        table = self.tables[name] = MemoryTable(
            self.broker, self.broker.tables[name], owns=lambda partition: partition in self.owned
        )
        return table

    def _bind(self, event: Event) -> None:
        for table in self.tables.values():
            table.partition = event.message.partition

    async def rebalance(self, owned: Iterable[int]) -> None:
        """A rebalance, as faust runs it: the agents' open commit window is closed, then
        the partitions now owned are read from their commits."""
        await self.commits.close()
        self.assign(owned)

    def assign(self, owned: Iterable[int]) -> None:
        """Forget, then read the partitions now owned from their commits."""
        self.pipeline.forget()
        self.owned = set(owned)
        self.positions = {}

    def restarted(self) -> MemoryWorker:
        """The process after a crash: nothing of this one's memory, the same partitions,
        reading on from the committed offsets and the tables."""
        again = MemoryWorker(
            self.broker,
            self.settings,
            self.config,
            self.rules,
            self.owned,
            plan=self.plan,
            time=self.time,
        )
        again.batches = self.batches
        again.crashes = self.crashes + 1
        return again

    def crash_point(self, step: str) -> None:
        """Die here if a crash is planned before ``step`` at this batch or an earlier one
        (the users agent's commits have no state steps: the next batch that has them)."""
        due = [n for n, at in self.plan.crashes.items() if at == step and n <= self.batches]
        if due:
            del self.plan.crashes[min(due)]
            msg = f"batch {self.batches}, before {step}"
            raise Crash(msg)

    def _position(self, topic: str, partition: int) -> int:
        tp = (topic, partition)
        if tp not in self.positions:
            self.positions[tp] = self.broker.committed.get(tp, 0)
        return self.positions[tp]

    def _unread(self, topics: Sequence[str]) -> list[tuple[str, int]]:
        return [
            (t, p)
            for t in topics
            for p in sorted(self.owned)
            if self._position(t, p) < len(self.broker.log(t, p))
        ]

    def _take(self, topics: Sequence[str]) -> tuple[list[Event], dict[tuple[str, int], int]]:
        """A batch in an order faust might deliver: runs from partitions picked at random,
        each partition in order."""
        events: list[Event] = []
        done: dict[tuple[str, int], int] = {}
        while len(events) < self.plan.batch:
            unread = self._unread(topics)
            if not unread:
                break
            topic, partition = self.rng.choice(unread)
            log = self.broker.log(topic, partition)
            start = self._position(topic, partition)
            take = min(self.rng.randint(1, self.plan.run), self.plan.batch - len(events))
            for offset in range(start, min(start + take, len(log))):
                key, value, headers = log[offset]
                events.append(Event(Message(topic, partition, offset, headers), key, value))
                done[(topic, partition)] = offset + 1
            self.positions[(topic, partition)] = done[(topic, partition)]
        return events, done

    async def step(self) -> bool:
        """One batch of each agent that has input; whether there was any."""
        pipeline = self.pipeline
        accounts, done = self._take(pipeline.account_sources)
        if accounts:
            self.batches += 1
            self.time.now += self.plan.seconds_per_message * len(accounts)
            async with self.commits.handling():
                with tracking(self.account_sent):
                    await pipeline.accounts_batch(accounts)
                self.crash_point("outputs")
                await self.commits.commit(accounts, done)
        users, done = self._take([pipeline.internal_topics[1]])
        if users:
            self.batches += 1
            self.time.now += self.plan.seconds_per_message * len(users)
            with tracking(self.user_sent):
                await pipeline.users_batch(users)
            self.crash_point("outputs")
            await Checkpoint(self.user_sent, _Offsets(self)).commit(users, done)  # type: ignore[arg-type]
        self.broker.deliver()  # the producer's linger: what was handed over goes out
        # the commit's last steps run in the background: a crash planned in them
        # (before "offsets") surfaces here, in this step, not in some later one
        await self.commits.settled()
        return bool(accounts or users)

    def tick(self) -> None:
        """The worker's timer: a tick message to each ticks partition it owns."""
        self.broker.deliver()
        for partition in sorted(self.owned):
            self.broker.produce(self.pipeline.internal_topics[2], None, b"tick", partition)


async def steps(workers: list[MemoryWorker]) -> bool:
    """One step of each worker; a worker that crashed is restarted in its place."""
    moved = False
    for i, worker in enumerate(workers):
        try:
            moved |= await worker.step()
        except Crash:
            worker.broker.crashed()
            workers[i] = worker.restarted()
            moved = True
    return moved


MAX_ROUNDS = 200_000


async def drain(workers: list[MemoryWorker], *, tick_every: int = 20) -> None:
    """Run the workers in turn until none has input left, ticking every few batches,
    then let idle allowances pass and tick until nothing moves (as a quiet worker's
    timers would). Fails if the workers keep producing input for themselves."""
    rounds = 0
    while await steps(workers):
        rounds += 1
        if rounds % tick_every == 0:
            for w in workers:
                w.tick()
        assert rounds < MAX_ROUNDS, "the workers never ran out of input"
    for _ in range(4):
        for w in workers:
            w.time.now += 5.0
            w.tick()
        while await steps(workers):
            rounds += 1
            assert rounds < MAX_ROUNDS, "the workers never ran out of input"


def run_output(broker: MemoryBroker, settings: Settings) -> RunOutput:
    """What ``pulse verify`` reads of a run: the output topics and the state changelog."""
    prefix = settings.topic_prefix
    outputs = {kind: broker.values(topic_name(kind, prefix)) for kind in OUTPUT_KINDS}
    return RunOutput.decode(outputs, broker.tables[STATE_TABLE].changelog)


def load(
    broker: MemoryBroker, records: Iterable[tuple[TopicKind, bytes | None, bytes]], prefix: str
) -> None:
    """Produce input records (kind, key, value) in order; a record without a key goes to
    a partition chosen at random (seeded), as Kafka's default partitioner sends it."""
    rng = random.Random(0)
    for kind, key, value in records:
        partition = rng.randrange(broker.partitions) if key is None else None
        broker.produce(topic_name(kind, prefix), key, value, partition)
