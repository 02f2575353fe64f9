"""The webhook bridge across a broker restart: while the broker is down the bridge answers
503 (so Stripe and Segment retry), and every event it answered 2xx is on its topic."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.engine.ingest.bridge_support import read_all, running_bridge, stripe_headers
from tests.faults.harness import PrivateKafka
from tests.topics import payloads

pytestmark = [pytest.mark.broker, pytest.mark.timeout(300)]


async def _create(bootstrap: str, *names: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, 1, 1) for n in names])
    finally:
        await admin.close()


async def test_nothing_acknowledged_is_lost_across_a_broker_restart(
    private_kafka: PrivateKafka,
) -> None:
    billing, usage = "ingest-billing", "ingest-usage"
    await _create(private_kafka.bootstrap, billing, usage)
    bodies = [orjson.dumps(payloads.stripe_invoice() | {"id": f"evt_{i}"}) for i in range(30)]
    acked: set[bytes] = set()
    statuses: list[int] = []
    async with running_bridge(private_kafka.bootstrap, billing, usage, ack_timeout=3) as (
        http,
        url,
    ):

        async def send(body: bytes) -> None:
            answer = await http.post(url + "stripe", data=body, headers=stripe_headers(body))
            statuses.append(answer.status)
            if answer.status == 200:
                acked.add(body)

        for body in bodies[:10]:
            await send(body)
        await asyncio.to_thread(private_kafka.stop_broker)
        for body in bodies[10:20]:
            await send(body)
        down = statuses[10:20]
        await asyncio.to_thread(private_kafka.up)
        for body in bodies[10:]:  # the sender retries what was refused, then goes on
            if body not in acked:
                for _ in range(20):
                    await send(body)
                    if body in acked:
                        break
                    await asyncio.sleep(1)
    assert set(down) == {503}, f"while the broker was down the bridge answered {down}"
    assert acked == set(bodies)
    records = await read_all(private_kafka.bootstrap, billing, len(bodies), wait=30)
    on_topic = {r.value for r in records}
    assert acked <= on_topic, f"{len(acked - on_topic)} acknowledged events missing"
