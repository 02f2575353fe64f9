"""The local Redis answers through redis-py's asyncio API."""

from __future__ import annotations

import redis.asyncio as aioredis


async def test_round_trip_through_asyncio_client(redis_client: aioredis.Redis) -> None:
    await redis_client.hset("pulse:test:account:a1", mapping={"score": "72.5", "band": "yellow"})
    await redis_client.zadd("pulse:test:by-score", {"a1": 72.5, "a2": 31.0})

    assert await redis_client.hgetall("pulse:test:account:a1") == {
        b"score": b"72.5",
        b"band": b"yellow",
    }
    assert await redis_client.zrange("pulse:test:by-score", 0, -1) == [b"a2", b"a1"]
