"""Redis AUTH is honoured: with a wrong password the view is not written, the failure shows
in the metrics and the log (without the password), and stream processing goes on."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import orjson
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from engine.process import WorkerProcess
from tests.conftest import RedisServer
from tests.engine.test_worker import (
    collect,
    describe,
    expected_triggers,
    output_topics,
    produce,
    signals_env,
    simulated,
)


def _metric(worker: WorkerProcess, name: str) -> float:
    status, body = worker.get("/metrics")
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    return sum(s.value for s in families[name].samples if not s.name.endswith("_created"))


async def test_a_wrong_redis_password_is_refused_counted_and_processing_goes_on(
    kafka_bootstrap: str,
    worker_factory: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    from engine.simulator import CORE_FEATURES

    config = tmp_path / "signals.yaml"
    config.write_text("usage:\n  core_features: [" + ", ".join(CORE_FEATURES) + "]\n")
    (tmp_path / "rules.yaml").write_text("extends: textbook\n")  # fires on 5 accounts x 10 days
    password = f"redis-right-{uuid.uuid4().hex}"
    wrong = f"redis-wrong-{uuid.uuid4().hex}"
    token = f"api-token-{uuid.uuid4().hex}"
    redis = RedisServer(tmp_path, password=password)
    redis.start()
    try:
        worker = worker_factory(
            **signals_env(config),
            PULSE_REDIS_URL=redis.url.replace(password, wrong),
            PULSE_API_TOKEN=token,
        )
        worker.start(loglevel="info")
        prefix = worker.env["PULSE_TOPIC_PREFIX"]
        records = simulated(accounts=8, days=21)
        await produce(kafka_bootstrap, prefix, records)
        got = await collect(kafka_bootstrap, output_topics(prefix), settle=4)

        published = {
            orjson.loads(v)["trigger_id"]: orjson.loads(v)
            for t in output_topics(prefix)
            for v in got[t]
        }
        expected = expected_triggers(records, config)
        assert published, "no trigger while Redis refused the worker"
        assert set(published) == set(expected), describe(published, expected)

        deadline = time.monotonic() + 20
        while _metric(worker, "pulse_redis_write_errors") == 0:
            assert time.monotonic() < deadline, "no Redis write error counted"
            await asyncio.sleep(0.5)
        assert _metric(worker, "pulse_redis_view_updates") == 0
        assert _metric(worker, "pulse_redis_view_pending_updates") > 0

        # Nothing reached Redis; the account pages say the view is unavailable.
        client = aioredis.Redis.from_url(redis.url, socket_connect_timeout=3)
        try:
            assert await client.dbsize() == 0
        finally:
            await client.aclose()
        account = next(k.decode() for _, k, _ in records if k and k.startswith(b"acct-"))
        status, body = worker.get(f"/accounts/{account}", token=token)
        assert status == 503, body
        assert b"account view unavailable" in body
        assert wrong.encode() not in body
        assert worker.process is not None
        assert worker.process.poll() is None
    finally:
        redis.stop()
    assert worker.stop() == 0
    output = worker.log.read_text(errors="replace")
    assert "Redis account view: write failed" in output
    assert "AuthenticationError" in output
    assert "redis://:***@127.0.0.1" in output  # the start-up line shows the URL redacted
    assert wrong not in output
    assert password not in output
    assert token not in output
