"""The Pulse worker under the suite: throughput, latency, memory and recovery.

The worker runs as ``pulse worker`` in a child process (engine.process.WorkerProcess)
with its settings from ``engine.demo.worker_env``: topics under the population's
prefix, the Redis view on under the same prefix, the event-time clock (so a simulated
quarter runs as fast as the worker can go), and a RocksDB store, the default.

"Done" is read from faust's own sensor: the offset of the last message each topic
partition handed to the agents. The worker has consumed a population when every
input partition has reached its end offset, and its internal re-keying topics
(user-only events, their resolution) have reached the end offsets they had at the
previous poll: those topics also carry watermark announcements, so their ends move
a little even when the worker is idle.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from bench.population import Ends, Population, end_offsets, prepare, publish
from engine.demo import worker_env
from engine.kafka import client_kwargs
from engine.process import WorkerProcess, free_port
from engine.settings import Settings
from engine.simulator.generator import Record
from topics.catalogue import TopicKind, topic_name
from topics.codec import encode
from topics.models import BillingEvent

POLL_SECONDS = 0.5
STALL_SECONDS = 180.0
"""No progress for this long fails the run (with the worker's log) instead of hanging."""
Say = Callable[[str], None]


def rss_bytes(pid: int) -> dict[str, int]:
    """Resident set size now and at its peak (Linux /proc)."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in {"VmRSS", "VmHWM"}:
            found[name] = int(value.split()[0]) * 1024
    return {"rss_bytes": found.get("VmRSS", 0), "peak_rss_bytes": found.get("VmHWM", 0)}


@dataclass
class Worker:
    """One Pulse worker of the suite: its settings, data folder and process."""

    settings: Settings
    prefix: str
    folder: Path
    label: str
    clock: str = "event"
    process: WorkerProcess | None = None

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.app_id = f"pulse-{self.prefix}-{self.label}"
        self.env = worker_env(self.settings, self.prefix, self.folder, free_port())
        self.env.update(
            PULSE_APP_ID=self.app_id,
            PULSE_STORE="rocksdb://",
            PULSE_DATA_DIR=str(self.folder / "data"),
            PULSE_CLOCK=self.clock,
        )

    @property
    def internal_topics(self) -> list[str]:
        return [f"{self.app_id}-account-events", f"{self.app_id}-user-events"]

    def start(self, wait: float = 300) -> float:
        """Start it; seconds until /readyz answered 200."""
        started = time.monotonic()
        self.process = WorkerProcess(self.env, self.folder / "worker.log")
        self.process.start(wait=wait)
        return time.monotonic() - started

    def stop(self) -> int:
        if self.process is None:
            return 0
        code = self.process.stop(signal.SIGTERM)
        self.process = None
        return code

    def pid(self) -> int:
        if self.process is None or self.process.process is None:
            msg = f"worker {self.label} is not running"
            raise RuntimeError(msg)
        return self.process.process.pid

    def read_offsets(self) -> dict[tuple[str, int], int]:
        """Per topic partition, the offset of the last message handed to the agents."""
        assert self.process is not None  # noqa: S101 - started by the caller
        status, body = self.process.get("/metrics")
        if status != 200:
            return {}
        offsets: dict[tuple[str, int], int] = {}
        for family in text_string_to_metric_families(body.decode()):
            if family.name.endswith("_messages_received_per_topics_partition"):
                for sample in family.samples:
                    key = (sample.labels["topic"], int(sample.labels["partition"]))
                    offsets[key] = int(sample.value)
        return offsets

    def check_alive(self) -> None:
        process = self.process.process if self.process else None
        if process is None or process.poll() is not None:
            code = None if process is None else process.returncode
            tail = self.process.tail() if self.process else ""
            msg = f"Pulse worker {self.label} exited ({code}):\n{tail}"
            raise RuntimeError(msg)

    async def consume_all(self, ends: Ends, say: Say) -> float:
        """Wait until the worker has handled every message up to ``ends`` (and what it
        re-keyed on the way); returns when (monotonic) that was first seen."""
        return await consume_all([self], ends, say)


async def consume_all(workers: list[Worker], ends: Ends, say: Say) -> float:
    """Wait until the workers (of one consumer group) together have handled every message
    up to ``ends`` and what they re-keyed on the way; returns when (monotonic) that was
    first seen. A partition that moved between them counts as far as either got."""
    total = sum(sum(p.values()) for p in ends.values())
    began = last_change = last_said = time.monotonic()
    last_read, internal_before = -1, None
    first = workers[0]
    partitions = first.settings.topic_partitions
    label = "+".join(w.label for w in workers)
    while True:
        await asyncio.sleep(POLL_SECONDS)
        offsets: dict[tuple[str, int], int] = {}
        for worker in workers:
            worker.check_alive()
            for key, offset in (await asyncio.to_thread(worker.read_offsets)).items():
                offsets[key] = max(offset, offsets.get(key, -1))
        now = time.monotonic()
        read = sum(
            min(offsets.get((t, p), -1) + 1, end)
            for t, parts in ends.items()
            for p, end in parts.items()
        )
        if read != last_read:
            last_read, last_change = read, now
        behind = _behind(offsets, ends)
        caught_up = internal_before is not None and _behind(offsets, internal_before) == 0
        if behind == 0 and caught_up:
            return now
        internal_before = await end_offsets(first.settings, first.internal_topics, partitions)
        if now - last_said >= 5:
            last_said = now
            rate = read / max(now - began, 1e-9)
            say(f"  pulse worker {label}: {read:,} / {total:,} input events ({rate:,.0f}/s)")
        if now - last_change > STALL_SECONDS and behind:
            tails = "\n".join(w.process.tail() for w in workers if w.process)
            msg = (
                f"Pulse worker {label} made no progress for {STALL_SECONDS:.0f} s "
                f"({read:,} of {total:,} input events):\n{tails}"
            )
            raise RuntimeError(msg)


def _behind(offsets: dict[tuple[str, int], int], ends: Ends) -> int:
    return sum(
        max(0, end - 1 - offsets.get((topic, partition), -1))
        for topic, parts in ends.items()
        for partition, end in parts.items()
        if end > 0
    )


async def throughput(
    settings: Settings, population: Population, folder: Path, say: Say
) -> dict[str, Any]:
    """Events per second from the input topics to triggers, health and Redis."""
    worker = Worker(settings, population.prefix, folder, "e2e")
    try:
        startup = worker.start()
        ready = time.monotonic()
        done = await worker.consume_all(population.ends, say)
        memory = rss_bytes(worker.pid())
    finally:
        worker.stop()
    seconds = done - ready
    return {
        "events": population.events,
        "seconds": round(seconds, 2),
        "events_per_s": round(population.events / seconds),
        "startup_s": round(startup, 2),
        **memory,
        "store": "rocksdb://",
        "clock": "event",
        "redis_view": True,
    }


async def scale_out(
    settings: Settings, population: Population, folder: Path, say: Say
) -> dict[str, Any]:
    """Two workers of one consumer group (each its own process, store and port) on the
    population, from the first ready to the last message: events per second. The
    group's rebalance when the second joins is part of the time, as in a deployment."""
    workers = [Worker(settings, population.prefix, folder / name, "scale") for name in "ab"]
    for worker in workers[1:]:  # one group: the label gives the app id
        worker.label = f"scale-{worker.folder.name}"
    try:
        started = await asyncio.gather(*(asyncio.to_thread(w.start) for w in workers))
        ready = time.monotonic() - max(started) + min(started)
        done = await consume_all(workers, population.ends, say)
    finally:
        for worker in workers:
            worker.stop()
    seconds = done - ready
    return {
        "workers": len(workers),
        "events": population.events,
        "seconds": round(seconds, 2),
        "events_per_s": round(population.events / seconds),
    }


async def memory_and_recovery(
    settings: Settings,
    prefix: str,
    steps: list[tuple[int, list[Record]]],
    folder: Path,
    say: Say,
) -> dict[str, Any]:
    """Worker RSS as its state grows to each step's number of accounts (one worker; each
    step's records are produced when it starts), then the time a restarted worker takes
    to be ready with the last step's state: with its local store, then without it."""
    await prepare(settings, prefix)
    worker = Worker(settings, prefix, folder, "memory")
    sizes: list[dict[str, Any]] = []
    recovery: dict[str, Any] = {}
    try:
        recovery["fresh_start_s"] = round(worker.start(), 2)
        empty = rss_bytes(worker.pid())["rss_bytes"]
        events = 0
        for accounts, records in steps:
            say(f"  memory: producing {len(records):,} more events, up to {accounts:,} accounts")
            population = await publish(
                settings, prefix, records, accounts=accounts, days=1, already=events
            )
            events = population.events
            began = time.monotonic()
            done = await worker.consume_all(population.ends, say)
            figures = {"accounts": accounts, "events": events, "empty_rss_bytes": empty}
            figures["consume_s"] = round(done - began, 2)
            figures.update(rss_bytes(worker.pid()))
            say(f"  memory: RSS {figures['rss_bytes'] / 2**20:,.0f} MiB at {accounts:,} accounts")
            sizes.append(figures)
        worker.stop()
        accounts = steps[-1][0]
        recovery.update(accounts=accounts, events=events)
        say(f"  recovery: restart with the local store kept ({accounts:,} accounts)")
        recovery["ready_local_store_s"] = round(worker.start(), 2)
        worker.stop()
        shutil.rmtree(folder / "data")
        say(f"  recovery: restart with the store deleted, changelog only ({accounts:,} accounts)")
        recovery["ready_changelog_s"] = round(worker.start(wait=900), 2)
        recovery["rss_after_changelog_restore_bytes"] = rss_bytes(worker.pid())["rss_bytes"]
    finally:
        worker.stop()
    return {"rss": sizes, "recovery": recovery}


async def latency(
    settings: Settings,
    prefix: str,
    warm: list[Record],
    background: list[Record],
    *,
    rate: float,
    seconds: float,
    folder: Path,
    say: Say,
) -> dict[str, Any]:
    """Event-to-trigger latency under load, on the wall clock.

    The worker first reads ``warm`` (the background accounts' earlier history) as fast
    as it can, untimed, so the timed run meets accounts it knows, as a running worker
    does: without it, every account's first event came in the first seconds and brought
    days of clock ticks at once, and those seconds' triggers waited up to 0.95 s behind
    them (measured at 272 events/s, 373 accounts, 6 days). Then recent
    simulated events (``background``) are sent at ``rate`` per second in all; one in
    twenty is instead a scheduled cancellation for a fresh account, which fires a
    trigger at once. Latency is from handing the probe to the producer to the trigger
    arriving on its topic, both seen from this process's monotonic clock.
    """
    worker = Worker(settings, prefix, folder, "latency", clock="wall")
    worker.start()
    warmed = 0.0
    if warm:
        began = time.monotonic()
        say(f"  latency: warming up with {len(warm):,} earlier events of the same accounts")
        history = await publish(settings, prefix, warm, accounts=0, days=1)
        await worker.consume_all(history.ends, say)
        warmed = time.monotonic() - began
    consumer = AIOKafkaConsumer(
        topic_name(TopicKind.CHURN_RISK, prefix),
        **client_kwargs(settings),
        group_id=None,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(**client_kwargs(settings), linger_ms=0)
    await consumer.start()
    await producer.start()
    probe = _Probe(prefix)
    receiver = asyncio.create_task(probe.receive(consumer))
    try:
        sent = await probe.send(producer, background, rate, seconds, say)
        for _ in range(300):  # up to 30 s for the last triggers
            if not probe.sent_at:
                break
            await asyncio.sleep(0.1)
    finally:
        receiver.cancel()
        await producer.stop()
        await consumer.stop()
        worker.stop()
    ordered = sorted(probe.latencies)

    def pct(p: float) -> float | None:
        if not ordered:
            return None
        return round(1000 * ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1)

    return {
        "rate_per_s": round(rate, 1),
        "achieved_rate_per_s": round(sent["achieved_rate_per_s"], 1),
        "warm_up_events": len(warm),
        "warm_up_s": round(warmed, 1),
        "seconds": seconds,
        "events": sent["events"],
        "probes": sent["probes"],
        "triggers": len(ordered),
        "missing": len(probe.sent_at),
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": round(1000 * ordered[-1], 1) if ordered else None,
    }


class _Probe:
    """Sends the latency run's stream and times the probes' triggers."""

    PROBE_EVERY = 20

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.sent_at: dict[str, float] = {}
        self.latencies: list[float] = []

    async def receive(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=100)
            arrived = time.monotonic()
            for records in batch.values():
                for record in records:
                    account = orjson.loads(record.value or b"{}").get("account_id")
                    if account in self.sent_at:
                        self.latencies.append(arrived - self.sent_at.pop(account))

    async def send(
        self,
        producer: AIOKafkaProducer,
        background: list[Record],
        rate: float,
        seconds: float,
        say: Say,
    ) -> dict[str, float]:
        total, probes = int(rate * seconds), 0
        source = itertools.cycle(background) if background else iter(())
        begin = time.monotonic()
        for i in range(total):
            wait = begin + i / rate - time.monotonic()
            if wait > 0.002:
                await asyncio.sleep(wait)
            record = next(source, None) if i % self.PROBE_EVERY else None
            if record is None:
                probes += 1
                await self._probe(producer, i)
            else:
                await producer.send(
                    topic_name(record.kind, self.prefix), record.value, key=record.key
                )
            if i and i % max(1, int(rate * 5)) == 0:
                say(
                    f"  latency: {i:,} / {total:,} events sent, {len(self.latencies)} triggers back"
                )
        achieved = total / max(time.monotonic() - begin, 1e-9)
        return {"events": total, "probes": probes, "achieved_rate_per_s": achieved}

    async def _probe(self, producer: AIOKafkaProducer, i: int) -> None:
        """A fresh account seen two days ago, whose subscription is now set to cancel:
        the default ``cancellation_scheduled`` fires at once (no rule fires on an
        account's first day of data, hence the subscription from before)."""
        account = f"{self.prefix}-probe-{i:08d}"
        now = datetime.now(UTC)
        started = BillingEvent(  # on the same partition as the cancel: read first
            event_id=f"{account}-start",
            occurred_at=now - timedelta(days=2),
            account_id=account,
            action="subscription_updated",
            plan="Probe",
        )
        cancel = BillingEvent(
            event_id=f"{account}-cancel",
            occurred_at=now,
            account_id=account,
            action="subscription_updated",
            cancel_scheduled=True,
            cancel_at=now + timedelta(days=20),
        )
        key = account.encode()
        await producer.send(topic_name(TopicKind.BILLING, self.prefix), encode(started), key=key)
        self.sent_at[account] = time.monotonic()
        await producer.send(topic_name(TopicKind.BILLING, self.prefix), encode(cancel), key=key)
