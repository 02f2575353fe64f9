"""The webhook bridge (`pulse ingest`) on the local stack: signed Stripe webhooks per second,
and request latency at a fixed rate.

Run: ``.venv/bin/python -m bench.ingest [--requests N] [--concurrency C] [--rate R] [--quick]``.

The bridge runs as its own process (as deployed) on fresh topics. Each request is a
distinct Stripe event, signed as Stripe signs it; a request's time runs from sending
it to the bridge's answer, which comes only after Kafka acknowledged the event.

- Throughput: N requests from C concurrent senders, as fast as the bridge answers.
- Latency: requests at a fixed rate for a few seconds: p50, p95, p99.
- Then every answered event is read back from the topic (lost must be 0).

Prints a table and writes it as JSON (``--json``, default out/bench-ingest.json).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from engine.kafka import client_kwargs
from engine.process import free_port
from engine.settings import load_settings
from engine.topics_admin import create_catalogue
from topics.catalogue import TopicKind, catalogue, topic_name

SECRET = "whsec_bench"  # noqa: S105 - a throwaway signing secret for this run


def stripe_event(number: int) -> bytes:
    return orjson.dumps(
        {
            "id": f"evt_bench_{number}",
            "object": "event",
            "api_version": "2025-03-31.basil",
            "created": int(time.time()),
            "livemode": True,
            "type": "invoice.paid",
            "data": {
                "object": {
                    "id": f"in_bench_{number}",
                    "object": "invoice",
                    "customer": f"cus_{number % 500}",
                    "currency": "usd",
                    "amount_paid": 4900,
                    "amount_due": 4900,
                    "metadata": {"account_id": f"acct-{number % 500}"},
                }
            },
        }
    )


def signed(body: bytes) -> dict[str, str]:
    t = int(time.time())
    digest = hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={t},v1={digest}", "Content-Type": "application/json"}


def start_bridge(prefix: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "PULSE_TOPIC_PREFIX": prefix,
        "PULSE_INGEST_PORT": str(port),
        "PULSE_STRIPE_WEBHOOK_SECRET": SECRET,
        "PULSE_SEGMENT_WEBHOOK_SECRET": "bench",
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "ingest", "--loglevel", "warning"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def wait_healthy(http: aiohttp.ClientSession, url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            async with http.get(url + "healthz") as answer:
                if answer.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    msg = "the bridge did not come up within 30 s"
    raise SystemExit(msg)


async def post(http: aiohttp.ClientSession, url: str, number: int) -> tuple[int, float]:
    body = stripe_event(number)
    started = time.perf_counter()
    async with http.post(url + "stripe", data=body, headers=signed(body)) as answer:
        await answer.read()
        return answer.status, time.perf_counter() - started


def percentiles(seconds: list[float]) -> dict[str, float | None]:
    ordered = sorted(seconds)

    def pct(q: float) -> float | None:
        if not ordered:
            return None
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    mean = round(1000 * statistics.fmean(ordered), 2) if ordered else None
    return {"p50_ms": pct(0.5), "p95_ms": pct(0.95), "p99_ms": pct(0.99), "mean_ms": mean}


async def throughput(
    http: aiohttp.ClientSession, url: str, requests: int, concurrency: int
) -> dict[str, Any]:
    queue = iter(range(requests))
    results: list[tuple[int, float]] = []

    async def sender() -> None:
        for number in queue:
            results.append(await post(http, url, number))

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    ok = [s for status, s in results if status == 200]
    return {
        "requests": requests,
        "concurrency": concurrency,
        "acknowledged": len(ok),
        "webhooks_per_s": round(len(ok) / elapsed),
        **percentiles(ok),
    }


async def fixed_rate(
    http: aiohttp.ClientSession, url: str, rate: float, seconds: float, first: int
) -> dict[str, Any]:
    count = int(rate * seconds)
    started = time.perf_counter()
    tasks = []
    for i in range(count):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(post(http, url, first + i)))
    results = await asyncio.gather(*tasks)
    ok = [s for status, s in results if status == 200]
    return {"rate_per_s": rate, "requests": count, "acknowledged": len(ok), **percentiles(ok)}


async def on_topic(topic: str, expected: int) -> int:
    settings = load_settings()
    consumer = AIOKafkaConsumer(
        topic, **client_kwargs(settings), auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    ids: set[bytes] = set()
    try:
        deadline = time.monotonic() + 60
        while len(ids) < expected and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                ids.update(orjson.loads(r.value)["id"].encode() for r in records)
    finally:
        await consumer.stop()
    return len(ids)


async def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    settings = load_settings()
    prefix = f"bench-ingest-{uuid.uuid4().hex[:8]}"
    await create_catalogue(settings, prefix, settings.topic_partitions)
    port = free_port()
    bridge = start_bridge(prefix, port, folder / f"{prefix}.log")
    url = f"http://127.0.0.1:{port}/"
    try:
        connector = aiohttp.TCPConnector(limit=max(args.concurrency, 256))
        async with aiohttp.ClientSession(connector=connector) as http:
            await wait_healthy(http, url)
            await throughput(http, url, 200, args.concurrency)  # warm up the producer
            best = await throughput(http, url, args.requests, args.concurrency)
            steady = await fixed_rate(http, url, args.rate, args.seconds, 10_000_000)
        answered = 200 + best["acknowledged"] + steady["acknowledged"]
        read = await on_topic(topic_name(TopicKind.BILLING, prefix), answered)
        return {
            "throughput": best,
            "latency": steady,
            "acknowledged": answered,
            "lost": answered - read,
        }
    finally:
        bridge.terminate()
        bridge.wait(timeout=30)
        admin = AIOKafkaAdminClient(**client_kwargs(settings), request_timeout_ms=15000)
        await admin.start()
        try:
            await admin.delete_topics([spec.name for spec in catalogue(prefix, 1)])
        finally:
            await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=500.0, help="latency run: webhooks/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="latency run length")
    parser.add_argument("--quick", action="store_true", help="small smoke run (CI)")
    parser.add_argument("--json", type=Path, default=Path("out/bench-ingest.json"))
    args = parser.parse_args()
    if args.quick:
        args.requests, args.rate, args.seconds = 500, 100.0, 2.0
    folder = Path(".pulse/bench")
    folder.mkdir(parents=True, exist_ok=True)
    result = asyncio.run(run(args, folder))
    t, lat = result["throughput"], result["latency"]
    print(f"{'measure':<52}{'value':>12}")
    print(f"{'signed Stripe webhooks/s (acked by Kafka)':<52}{t['webhooks_per_s']:>12,}")
    print(f"{'  requests x concurrency':<52}{t['requests']:>12,}  (x {t['concurrency']})")
    print(f"{'  p50 / p99 ms at full speed':<52}{t['p50_ms']!s:>12} / {t['p99_ms']}")
    print(f"{'at ' + str(lat['rate_per_s']) + '/s, p50 ms':<52}{lat['p50_ms']!s:>12}")
    print(f"{'  p95 ms':<52}{lat['p95_ms']!s:>12}")
    print(f"{'  p99 ms':<52}{lat['p99_ms']!s:>12}")
    print(f"{'acknowledged / lost':<52}{result['acknowledged']:>12,} / {result['lost']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    if result["lost"]:
        msg = f"{result['lost']} acknowledged webhooks are not on the topic"
        raise SystemExit(msg)


if __name__ == "__main__":
    main()
