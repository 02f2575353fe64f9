"""One Pulse worker end to end on the local stack: throughput, and latency at a fixed rate.

Run: ``.venv/bin/python -m bench.worker [--accounts N --days D] [--rate R] [--quick]``.

- Throughput: a simulated population is produced to fresh topics first, then a
  worker (event clock, memory store, Redis view on) is started and timed until
  it has consumed every message: events per second from input to trigger,
  health and Redis.
- Latency: a worker on the wall clock gets NPS detractor responses for fresh
  accounts at a fixed rate; each fires a trigger at once, and the time from
  send to the trigger arriving on its topic is measured here, in one process
  and one clock: p50, p95, p99.

Prints a table and writes it as JSON (``--json``, default out/bench-worker.json).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from engine.demo import closing_events, worker_env
from engine.process import WorkerProcess
from engine.settings import load_settings
from engine.simulator.generator import Simulation, SimulationConfig
from engine.topics_admin import create_catalogue
from topics.catalogue import TopicKind, topic_name
from topics.codec import encode
from topics.models import SurveyResponse


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_worker(prefix: str, folder: Path, **overrides: str) -> WorkerProcess:
    env = worker_env(load_settings(), prefix, folder, free_port())
    env.update(overrides)
    worker = WorkerProcess(env, folder / f"{prefix}.log")
    worker.start()
    return worker


async def throughput(accounts: int, days: int, folder: Path) -> dict[str, Any]:
    settings = load_settings()
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    config = SimulationConfig(accounts=accounts, days=days)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=20)
    await create_catalogue(settings, prefix, settings.topic_partitions)
    await producer.start()
    sent = 0
    try:
        for record in Simulation(config).records():
            await producer.send(topic_name(record.kind, prefix), record.value, key=record.key)
            sent += 1
        for key, value in closing_events(config, settings.topic_partitions):
            await producer.send(topic_name(TopicKind.ACCOUNTS, prefix), value, key=key)
            sent += 1
        await producer.flush()
    finally:
        await producer.stop()
    started = time.monotonic()
    worker = start_worker(prefix, folder)
    try:
        ready = time.monotonic()
        while worker.events_received() < sent:
            await asyncio.sleep(0.5)
            if time.monotonic() - ready > 1800:
                msg = "worker did not consume the population within 30 minutes"
                raise RuntimeError(msg)
        done = time.monotonic()
    finally:
        worker.stop()
    return {
        "events": sent,
        "accounts": accounts,
        "days": days,
        "startup_s": round(ready - started, 2),
        "seconds": round(done - ready, 2),
        "events_per_s": round(sent / (done - ready)),
    }


async def latency(rate: float, seconds: float, folder: Path) -> dict[str, Any]:
    settings = load_settings()
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    worker = start_worker(prefix, folder, PULSE_CLOCK="wall")
    consumer = AIOKafkaConsumer(
        topic_name(TopicKind.CHURN_RISK, prefix),
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=0)
    await consumer.start()
    await producer.start()
    sent_at: dict[str, float] = {}
    latencies: list[float] = []

    async def receive() -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=200)
            arrived = time.monotonic()
            for records in batch.values():
                for record in records:
                    account = orjson.loads(record.value or b"{}")["account_id"]
                    if account in sent_at:
                        latencies.append(arrived - sent_at.pop(account))

    receiver = asyncio.create_task(receive())
    try:
        total = int(rate * seconds)
        begin = time.monotonic()
        for i in range(total):
            due = begin + i / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            account = f"lat-{i:07d}"
            response = SurveyResponse(
                event_id=f"{account}-nps",
                occurred_at=datetime.now(UTC),
                account_id=account,
                respondent_id="r1",
                score=2,
            )
            sent_at[account] = time.monotonic()
            await producer.send(
                topic_name(TopicKind.FEEDBACK, prefix), encode(response), key=account.encode()
            )
        for _ in range(150):  # up to 30 s for the last triggers
            if not sent_at:
                break
            await asyncio.sleep(0.2)
    finally:
        receiver.cancel()
        await producer.stop()
        await consumer.stop()
        worker.stop()
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1)

    return {
        "rate_per_s": rate,
        "sent": total,
        "triggers": len(latencies),
        "missing": len(sent_at),
        "p50_ms": pct(0.50) if ordered else None,
        "p95_ms": pct(0.95) if ordered else None,
        "p99_ms": pct(0.99) if ordered else None,
        "mean_ms": round(1000 * statistics.fmean(ordered), 1) if ordered else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rate", type=float, default=200.0, help="latency run: events/s")
    parser.add_argument("--seconds", type=float, default=20.0, help="latency run length")
    parser.add_argument("--quick", action="store_true", help="small smoke run (CI)")
    parser.add_argument("--json", type=Path, default=Path("out/bench-worker.json"))
    args = parser.parse_args()
    if args.quick:
        args.accounts, args.days, args.rate, args.seconds = 20, 14, 20.0, 5.0
    folder = Path(".pulse/bench")
    folder.mkdir(parents=True, exist_ok=True)
    result = {
        "throughput": asyncio.run(throughput(args.accounts, args.days, folder)),
        "latency": asyncio.run(latency(args.rate, args.seconds, folder)),
    }
    t, lat = result["throughput"], result["latency"]
    print(f"{'measure':<52}{'value':>12}")
    print(f"{'worker end to end, events/s':<52}{t['events_per_s']:>12,}")
    print(f"{'  events (accounts x days)':<52}{t['events']:>12,}  ({t['accounts']} x {t['days']})")
    print(f"{'  worker start to ready, s':<52}{t['startup_s']:>12}")
    print(
        f"{'event-to-trigger at ' + str(lat['rate_per_s']) + '/s, p50 ms':<52}{lat['p50_ms']!s:>12}"
    )
    print(f"{'  p95 ms':<52}{lat['p95_ms']!s:>12}")
    print(f"{'  p99 ms':<52}{lat['p99_ms']!s:>12}")
    print(f"{'  triggers received / sent':<52}{lat['triggers']:>6} / {lat['sent']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    if lat["missing"]:
        msg = f"{lat['missing']} latency probes never produced a trigger"
        raise SystemExit(msg)


if __name__ == "__main__":
    main()
