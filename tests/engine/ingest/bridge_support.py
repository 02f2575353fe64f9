"""Helpers of the bridge tests: a running bridge on given topics, signed requests, a reader."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from aiokafka import AIOKafkaConsumer, ConsumerRecord

from engine.ingest.app import BridgeConfig, build_app
from engine.ingest.publisher import Publisher

STRIPE_SECRET = "whsec_bridge_test"
SEGMENT_SECRET = "segment-shared-secret"


def stripe_headers(body: bytes, t: int | None = None) -> dict[str, str]:
    t = int(time.time()) if t is None else t
    signature = hmac.new(STRIPE_SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256)
    return {"Stripe-Signature": f"t={t},v1={signature.hexdigest()}"}


def segment_headers() -> dict[str, str]:
    token = base64.b64encode(f"pulse:{SEGMENT_SECRET}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


@asynccontextmanager
async def running_bridge(
    bootstrap: str, billing: str, usage: str, *, ack_timeout: float = 10.0
) -> AsyncIterator[tuple[ClientSession, str]]:
    config = BridgeConfig(
        billing_topic=billing,
        usage_topic=usage,
        stripe_secret=STRIPE_SECRET,
        segment_secret=SEGMENT_SECRET,
        stripe_options={"stripe_accept_test_mode": True},
    )
    publisher = Publisher({"bootstrap_servers": bootstrap}, timeout=ack_timeout)
    server = TestServer(build_app(config, publisher))
    await server.start_server()
    try:
        async with ClientSession() as session:
            yield session, str(server.make_url("/"))
    finally:
        await server.close()


async def read_all(
    bootstrap: str, topic: str, expected: int, wait: float = 15.0
) -> list[ConsumerRecord]:
    """Every record on the topic: at least `expected`, or what came within `wait` seconds."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for part in batch.values():
                records.extend(part)
            if len(records) >= expected:
                # one more short poll: anything beyond `expected` is a duplicate to catch
                for part in (await consumer.getmany(timeout_ms=1000)).values():
                    records.extend(part)
                break
    finally:
        await consumer.stop()
    return records
