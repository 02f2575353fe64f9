"""The Redis account view: batched, coalesced, band-indexed, and catching up after an outage."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import orjson
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from engine.metrics import Metrics
from engine.redis_view import RedisProjection, ViewUpdate, list_accounts, read_account
from tests.conftest import RedisServer


def sample(metrics: Metrics, name: str) -> float | None:
    return metrics.registry.get_sample_value(name)


def view(account: str, band: str, score: float | None, version: int = 1) -> ViewUpdate:
    document = orjson.dumps({"account_id": account, "band": band, "version": version})
    return ViewUpdate(account, band, score, document)


async def test_views_are_written_coalesced_and_listed_worst_first(
    redis_client: aioredis.Redis,
) -> None:
    metrics = Metrics(CollectorRegistry())
    projection = RedisProjection(redis_client, metrics, prefix="t1")
    projection.submit(view("a", "yellow", 70.0, version=1))
    projection.submit(view("a", "red", 40.0, version=2))  # replaces the pending yellow view
    projection.submit(view("b", "red", 12.5))
    projection.submit(view("c", "green", 91.0))
    projection.submit(view("d", "unknown", None))

    assert await projection.flush() == 4
    stored = await read_account(redis_client, "a", prefix="t1")
    assert stored is not None
    assert orjson.loads(stored)["version"] == 2
    assert await list_accounts(redis_client, "red", 10, prefix="t1") == [("b", 12.5), ("a", 40.0)]
    assert await list_accounts(redis_client, "yellow", 10, prefix="t1") == []
    assert await list_accounts(redis_client, None, 2, prefix="t1") == [("b", 12.5), ("a", 40.0)]
    assert await list_accounts(redis_client, "unknown", 10, prefix="t1") == [("d", None)]
    assert await read_account(redis_client, "zzz", prefix="t1") is None


async def test_band_change_moves_the_account(redis_client: aioredis.Redis) -> None:
    projection = RedisProjection(redis_client, Metrics(CollectorRegistry()), prefix="t2")
    projection.submit(view("a", "red", 30.0))
    await projection.flush()
    projection.submit(view("a", "green", 85.0))
    await projection.flush()

    assert await list_accounts(redis_client, "red", 10, prefix="t2") == []
    assert await list_accounts(redis_client, "green", 10, prefix="t2") == [("a", 85.0)]


async def test_outage_keeps_updates_and_view_catches_up(redis_server: RedisServer) -> None:
    client = aioredis.Redis.from_url(
        redis_server.url, socket_connect_timeout=0.5, socket_timeout=0.5
    )
    metrics = Metrics(CollectorRegistry())
    projection = RedisProjection(client, metrics, prefix="t3", flush_interval=0.02, max_backoff=0.2)
    runner = asyncio.create_task(projection.run())
    try:
        projection.submit(view("a", "green", 90.0))
        await _until(lambda: projection.pending == 0)

        redis_server.stop()
        for i in range(50):
            projection.submit(view(f"acct-{i}", "red", float(i)))
        projection.submit(view("a", "yellow", 60.0))
        await _until(lambda: (sample(metrics, "pulse_redis_write_errors_total") or 0) >= 2)
        assert projection.pending == 51
        assert (sample(metrics, "pulse_redis_view_lag_seconds") or 0) > 0

        redis_server.start()
        await _until(lambda: projection.pending == 0, within=15)
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner

    assert len(await list_accounts(client, "red", 100, prefix="t3")) == 50
    assert await list_accounts(client, "yellow", 10, prefix="t3") == [("a", 60.0)]
    assert sample(metrics, "pulse_redis_view_lag_seconds") == 0
    assert sample(metrics, "pulse_redis_view_updates_total") == 52
    await client.aclose()


async def _until(condition: Callable[[], bool], within: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_a_view_found_empty_is_rewritten_from_the_store(
    redis_client: aioredis.Redis,
) -> None:
    """At start, and whenever Redis comes back empty, the worker's rebuild rewrites
    every view it owns; a rebuild that cannot run yet (not ready) is asked again."""
    metrics = Metrics(CollectorRegistry())
    projection = RedisProjection(redis_client, metrics, prefix="t4")
    asked: list[str] = []
    ready = [False]

    async def rebuild() -> int | None:
        asked.append("asked")
        if not ready[0]:
            return None
        projection.submit(view("a", "red", 30.0))
        projection.submit(view("b", "green", 80.0))
        return 2

    projection.rebuild = rebuild
    await projection.check()  # at start, not ready: nothing rewritten yet
    assert (len(asked), sample(metrics, "pulse_redis_view_rebuilds_total")) == (1, 0.0)
    ready[0] = True
    await projection.check()  # asked again, now done
    await projection.flush()
    assert len(asked) == 2
    assert sample(metrics, "pulse_redis_view_rebuilds_total") == 1.0
    assert await list_accounts(redis_client, None, 10, prefix="t4") == [("a", 30.0), ("b", 80.0)]

    await projection.check()  # the view is there: nothing to do
    assert len(asked) == 2

    await redis_client.flushdb()  # Redis restarted empty, or someone flushed it
    await projection.check()
    await projection.flush()
    assert len(asked) == 3
    assert sample(metrics, "pulse_redis_view_rebuilds_total") == 2.0
    assert sample(metrics, "pulse_redis_views_rebuilt_total") == 4.0
    assert await read_account(redis_client, "a", prefix="t4") is not None
