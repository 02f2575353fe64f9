"""Two workers draining a backlog on fresh topics end where the replay ends.

The issue-17 case at CI size: a simulated backlog (the realistic preset, with its
late, duplicated and user-only events) produced onto fresh 6-partition topics before
any worker runs, two workers on the event clock draining it, one closing event per
partition two days after the end, then ``pulse verify``'s comparison (triggers id for
id and content, every account's final state) against the replay of the same input.

The workers use the production store (RocksDB) with a cache of a few states, so most
loads read the table, and batches mix partitions: faust's RocksDB store once read a
key from the store of whichever partition the batch's last event came from, found
nothing, and the account started afresh (engine.transport.delivery.TrackedTable.get_in).
The second case SIGKILLs one of the two workers while they drain (twice; six times
with PULSE_LONG_TESTS=1).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from engine.routing import partition_for
from engine.settings import Settings
from engine.simulator.generator import Simulation, SimulationConfig
from engine.topics_admin import create_catalogue
from engine.verify import OUTPUT_KINDS
from engine.verify_cli import settings_for, verify_deployment
from tests.conftest import WorkerProcess
from tests.engine.test_worker import produce, signals_config, signals_env
from tests.faults.harness import FAULT_ENV, LONG
from topics.catalogue import TopicKind, topic_name
from topics.codec import encode
from topics.models import AccountProfile

__all__ = ["signals_config"]

PARTITIONS = 6
ACCOUNTS = int(os.environ.get("PULSE_TEST_BACKLOG_ACCOUNTS", "60"))
DAYS = int(os.environ.get("PULSE_TEST_BACKLOG_DAYS", "45"))
"""Sized for CI; the issue's figures (300 accounts, 60 days) through the environment."""


def backlog(accounts: int, days: int, seed: int) -> list[tuple[TopicKind, bytes, bytes]]:
    """A simulated history with one closing event per partition two days after its end."""
    config = SimulationConfig(accounts=accounts, days=days, seed=seed, preset="realistic")
    records = [(r.kind, r.key, r.value) for r in Simulation(config).records()]
    end = config.start + timedelta(days=days + 2)
    for partition in range(PARTITIONS):
        account = next(
            f"clock-{i}"
            for i in range(1000)
            if partition_for(f"clock-{i}".encode(), PARTITIONS) == partition
        )
        profile = AccountProfile(event_id=f"{account}-end", occurred_at=end, account_id=account)
        records.append((TopicKind.ACCOUNTS, account.encode(), encode(profile)))
    return records


async def test_two_workers_draining_a_backlog_give_the_replay(
    kafka_bootstrap: str, worker_factory: Callable[..., WorkerProcess], signals_config: Path
) -> None:
    env = {
        **signals_env(signals_config),
        "PULSE_TOPIC_PARTITIONS": str(PARTITIONS),
        "PULSE_STORE": "rocksdb://",
        "PULSE_STATE_CACHE_ACCOUNTS": "8",
    }
    one, two = worker_factory(**env), worker_factory(**env)
    prefix = one.env["PULSE_TOPIC_PREFIX"]
    records = backlog(ACCOUNTS, DAYS, seed=11)
    await create_catalogue(Settings(kafka_bootstrap=kafka_bootstrap), prefix, PARTITIONS)
    await produce(kafka_bootstrap, prefix, records)  # all of it before the workers start
    one.start()
    two.start()
    settings = settings_for(one.env)
    await _quiet(settings, quiet=15.0, within=600.0)
    report = await verify_deployment(settings)
    assert report.expected_triggers > 0, "the replay fires nothing: nothing is compared"
    assert report.ok, report.summary()


KILLS = 6 if LONG else 2


async def test_two_workers_killed_while_draining_a_backlog_give_the_replay(
    kafka_bootstrap: str, worker_factory: Callable[..., WorkerProcess], signals_config: Path
) -> None:
    """The same backlog, one worker SIGKILLed now and then while both drain it and
    started again: still the replay's triggers and states, duplicates allowed."""
    env = {
        **signals_env(signals_config),
        **FAULT_ENV,
        "PULSE_TOPIC_PARTITIONS": str(PARTITIONS),
        "PULSE_STORE": "rocksdb://",
        "PULSE_STATE_CACHE_ACCOUNTS": "8",
    }
    one, two = worker_factory(**env), worker_factory(**env)
    prefix = one.env["PULSE_TOPIC_PREFIX"]
    await create_catalogue(Settings(kafka_bootstrap=kafka_bootstrap), prefix, PARTITIONS)
    await produce(kafka_bootstrap, prefix, backlog(ACCOUNTS, DAYS, seed=12))
    one.start()
    two.start()
    rng = random.Random(17)
    for _ in range(KILLS):
        await asyncio.sleep(rng.uniform(8.0, 20.0))  # joined, recovering or draining
        assert one.process is not None
        assert one.process.poll() is None, one.tail()
        one.process.send_signal(signal.SIGKILL)
        one.process.wait(timeout=30)
        one.start()
    settings = settings_for(one.env)
    await _quiet(settings, quiet=15.0, within=600.0)
    report = await verify_deployment(settings)
    assert report.expected_triggers > 0, "the replay fires nothing: nothing is compared"
    assert report.ok, report.summary()


async def _quiet(settings: Settings, *, quiet: float, within: float) -> None:
    """Wait until the output topics stop growing for ``quiet`` seconds."""
    topics = [topic_name(k, settings.topic_prefix) for k in OUTPUT_KINDS]
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
        deadline = time.monotonic() + within
        last, since = None, time.monotonic()
        while time.monotonic() < deadline:
            ends = await consumer.end_offsets(tps)
            if ends != last:
                last, since = ends, time.monotonic()
            elif time.monotonic() - since >= quiet and sum(ends.values()) > 0:
                return
            await asyncio.sleep(1.0)
    finally:
        await consumer.stop()
