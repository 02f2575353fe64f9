"""The suite's events: simulated populations produced once to topics of their own.

Every topic, consumer group and Redis key of a run carries the run's id, so that
``cleanup`` can delete exactly what the run made, and two runs never share state.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from engine.demo import closing_events
from engine.kafka import client_kwargs
from engine.settings import Settings
from engine.simulator.generator import Record, Simulation, SimulationConfig
from engine.simulator.writers import Progress, produce
from engine.topics_admin import create_catalogue
from topics.catalogue import INPUT_KINDS, TopicKind, catalogue, topic_name

Ends = dict[str, dict[int, int]]
"""topic -> partition -> end offset"""


@dataclass
class Population:
    """One set of events on the input topics under ``prefix``."""

    prefix: str
    accounts: int
    days: int
    events: int
    ends: Ends
    by_kind: dict[str, int] = field(default_factory=dict)
    note: str = ""
    produce_s: float = 0.0

    @property
    def topics(self) -> dict[str, str]:
        """Input kind -> topic name."""
        return {kind.value: topic_name(kind, self.prefix) for kind in INPUT_KINDS}

    def summary(self) -> dict[str, object]:
        return {
            "prefix": self.prefix,
            "accounts": self.accounts,
            "days": self.days,
            "events": self.events,
            "by_topic": self.by_kind,
            "produce_s": round(self.produce_s, 2),
            "note": self.note,
        }


def simulated(config: SimulationConfig) -> Iterator[Record]:
    """The simulator's stream: every stream, shape and fault it makes."""
    return Simulation(config).records()


def light(accounts: int, per_account: int, seed: int = 7) -> Iterator[Record]:
    """A few events per account (its first day's, at most ``per_account`` of them and
    only account-keyed ones): enough to give each account state, quick to produce."""
    counts: Counter[bytes] = Counter()
    for record in Simulation(SimulationConfig(accounts=accounts, days=1, seed=seed)).records():
        if not record.key.startswith(b"acct-") or counts[record.key] >= per_account:
            continue
        counts[record.key] += 1
        yield record


def account_index(record: Record) -> int:
    """The simulator's account number of an account-keyed record (``acct-00042`` -> 42)."""
    return int(record.key.rsplit(b"-", 1)[-1])


def recent(accounts: int, days: int, seed: int = 11) -> list[Record]:
    """A population whose last ``days`` days end now, for a wall-clock worker."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    config = SimulationConfig(
        accounts=accounts, days=days + 1, seed=seed, start=today - timedelta(days=days)
    )
    cutoff = datetime.now(UTC) - timedelta(minutes=1)
    return [r for r in Simulation(config).records() if r.sent_at < cutoff]


async def publish(
    settings: Settings,
    prefix: str,
    records: Iterable[Record],
    *,
    accounts: int,
    days: int,
    note: str = "",
    closing: SimulationConfig | None = None,
    progress_every: float = 5.0,
    already: int = 0,
) -> Population:
    """Create the catalogue's topics under ``prefix`` and produce ``records`` to them.

    ``closing`` adds one event per partition two days after that simulation's end, so
    an event-time worker's clock passes the last day (as ``pulse demo`` does).
    ``already`` is how many events the topics held before (the population grows).
    """
    await prepare(settings, prefix)
    by_kind: Counter[str] = Counter()

    def counted() -> Iterator[Record]:
        for record in records:
            by_kind[record.kind.value] += 1
            yield record
        if closing is not None:
            for key, value in closing_events(closing, settings.topic_partitions):
                by_kind[TopicKind.ACCOUNTS.value] += 1
                yield Record(TopicKind.ACCOUNTS, key, value, closing.end + timedelta(days=2))

    started = time.monotonic()
    progress = Progress(sys.stdout, every=progress_every)
    sent = await produce(counted(), settings, prefix, progress=progress)
    took = time.monotonic() - started
    inputs = [topic_name(kind, prefix) for kind in INPUT_KINDS]
    ends = await end_offsets(settings, inputs, settings.topic_partitions)
    total = sum(sum(p.values()) for p in ends.values())
    if total != already + sent:
        msg = f"produced {sent} events to {prefix} after {already}, but the topics hold {total}"
        raise RuntimeError(msg)
    return Population(prefix, accounts, days, total, ends, dict(by_kind), note, took)


async def prepare(settings: Settings, prefix: str) -> None:
    """Create the catalogue's topics under ``prefix`` and wait until they have leaders."""
    await create_catalogue(settings, prefix, settings.topic_partitions)
    await wait_for_leaders(settings, [spec.name for spec in catalogue(prefix)])


async def end_offsets(settings: Settings, topics: list[str], partitions: int) -> Ends:
    """End offsets of every partition of ``topics`` (all with ``partitions`` partitions)."""
    consumer = AIOKafkaConsumer(**client_kwargs(settings), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for topic in topics for p in range(partitions)]
        offsets = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    ends: Ends = {topic: {} for topic in topics}
    for tp, offset in offsets.items():
        ends[tp.topic][tp.partition] = offset
    return ends


async def wait_for_leaders(settings: Settings, topics: list[str]) -> None:
    """Until every partition of ``topics`` has a leader (new topics take a moment), so
    that producing to them does not start with a burst of retried NotLeader errors."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings), request_timeout_ms=15000)
    await admin.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            described = await admin.describe_topics(topics)
            if all(
                t["error_code"] == 0
                and t["partitions"]
                and all(p["leader"] >= 0 for p in t["partitions"])
                for t in described
            ):
                return
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def create_topic(settings: Settings, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(**client_kwargs(settings), request_timeout_ms=15000)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, settings.topic_replication_factor)])
    finally:
        await admin.close()
    await wait_for_leaders(settings, [name])


async def cleanup(settings: Settings, run_id: str) -> dict[str, int]:
    """Delete every topic, consumer group and Redis key whose name carries ``run_id``."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings), request_timeout_ms=30000)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if run_id in t]
        for start in range(0, len(topics), 50):
            await admin.delete_topics(topics[start : start + 50])
        groups = [g[0] for g in await admin.list_consumer_groups() if run_id in g[0]]
    finally:
        await admin.close()
    if groups:
        _delete_groups(settings, groups)
    client = aioredis.Redis.from_url(settings.redis_url.get_secret_value())
    keys = 0
    try:
        async for key in client.scan_iter(match=f"*{run_id}*", count=1000):
            keys += await client.delete(key)
    finally:
        await client.aclose()
    return {"topics": len(topics), "groups": len(groups), "redis_keys": keys}


def _delete_groups(settings: Settings, groups: list[str]) -> None:
    """aiokafka's admin client cannot delete groups; confluent-kafka's (from quixstreams) can."""
    from confluent_kafka.admin import AdminClient  # noqa: PLC0415 - only the bench extra has it

    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    for group, future in admin.delete_consumer_groups(groups, request_timeout=15).items():
        try:
            future.result(timeout=15)
        except Exception as exc:  # noqa: BLE001 - a leftover empty group is harmless
            print(f"bench: could not delete consumer group {group}: {exc}", flush=True)
