"""`pulse smoke`: prove the local stack end to end with a real faust worker.

Creates two fresh topics, starts the minimal app in ``engine.smoke_app`` as a
separate worker process, produces keyed messages to the first topic and reads
the second until every message has come back transformed. This is the
foundation check that precedes the real engine; it is not the signal engine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic


@dataclass(frozen=True)
class SmokeResult:
    sent: int
    received: int
    in_order: bool
    seconds: float


@contextlib.contextmanager
def smoke_worker(
    broker: str, app_id: str, in_topic: str, out_topic: str, log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``engine.smoke_app`` as a real faust worker process; stop it with SIGTERM."""
    env = dict(
        os.environ,
        PULSE_SMOKE_BROKER=broker,
        PULSE_SMOKE_APP_ID=app_id,
        PULSE_SMOKE_IN=in_topic,
        PULSE_SMOKE_OUT=out_topic,
    )
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "faust", "-A", "engine.smoke_app", "worker", "-l", "info"],
            env=env,
            # faust writes its data directory (<app id>-data) into the working
            # directory; keep it beside the log instead of in the caller's cwd.
            cwd=log_path.parent,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


async def create_topics(broker: str, names: list[str], partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=broker)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()


async def delete_topics(broker: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=broker)
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()


async def run_smoke(broker: str, messages: int, within: float, log_path: Path) -> SmokeResult:
    """Send ``messages`` through a real worker and count what comes back."""
    run = uuid.uuid4().hex[:10]
    in_topic, out_topic = f"pulse-smoke-in-{run}", f"pulse-smoke-out-{run}"
    await create_topics(broker, [in_topic, out_topic], partitions=3)
    started = time.monotonic()
    sent: dict[bytes, list[bytes]] = {}
    received: dict[bytes, list[bytes]] = {}
    try:
        with smoke_worker(broker, f"pulse-smoke-{run}", in_topic, out_topic, log_path) as proc:
            producer = AIOKafkaProducer(bootstrap_servers=broker, acks="all")
            await producer.start()
            try:
                for i in range(messages):
                    key = f"account-{i % 17}".encode()
                    value = f"event-{i}".encode()
                    sent.setdefault(key, []).append(value.upper())
                    await producer.send(in_topic, key=key, value=value)
                await producer.flush()
            finally:
                await producer.stop()
            consumer = AIOKafkaConsumer(
                out_topic, bootstrap_servers=broker, auto_offset_reset="earliest", group_id=None
            )
            await consumer.start()
            try:
                count = 0
                while count < messages and time.monotonic() - started < within:
                    if proc.poll() is not None:
                        msg = f"smoke worker exited with code {proc.returncode}; log: {log_path}"
                        raise RuntimeError(msg)
                    batch = await consumer.getmany(timeout_ms=500)
                    for records in batch.values():
                        for record in records:
                            key, value = record.key or b"", record.value or b""
                            received.setdefault(key, []).append(value)
                            count += 1
            finally:
                await consumer.stop()
    finally:
        await delete_topics(broker, [in_topic, out_topic])
    return SmokeResult(
        sent=messages,
        received=sum(len(v) for v in received.values()),
        in_order=received == sent,
        seconds=time.monotonic() - started,
    )


def _command(args: argparse.Namespace) -> int:
    print("pulse smoke: SMOKE RUN - checks the local Kafka broker with a real faust worker;")
    print("             the signal engine itself is not running in this mode.")
    log_path = Path(args.log)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    result = asyncio.run(run_smoke(args.broker, args.messages, args.timeout, log_path))
    print(
        f"pulse smoke: sent {result.sent}, received {result.received} transformed, "
        f"per-key order {'kept' if result.in_order else 'BROKEN'}, {result.seconds:.1f}s "
        f"(worker log: {log_path})"
    )
    ok = result.received == result.sent and result.in_order
    print("pulse smoke: OK" if ok else "pulse smoke: FAILED")
    return 0 if ok else 1


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("smoke", help="run the smoke pipeline through a real faust worker")
    default_broker = os.environ.get("PULSE_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    parser.add_argument("--broker", default=default_broker)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=90.0)
    parser.add_argument("--log", default=".pulse/logs/smoke-worker.log")
    parser.set_defaults(func=_command)
