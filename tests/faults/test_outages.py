"""The broker stopped and restarted mid-stream, and Redis stopped for a while mid-stream:
the worker rides both out, and nothing is lost, missed or invented (engine.verify)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.process import WorkerProcess
from tests.conftest import RedisServer
from tests.engine.test_worker import simulated
from tests.faults.harness import (
    FAULT_ENV,
    LONG,
    PrivateKafka,
    Timeline,
    ensure_alive,
    metric_total,
    produce_paced,
    settings_of,
    verify_run,
    wait_drained,
)

pytestmark = pytest.mark.timeout(2400 if LONG else 300)

ACCOUNTS, DAYS = (30, 45) if LONG else (14, 21)
BROKER_DOWN_S = 45.0 if LONG else 8.0
REDIS_DOWN_S = 60.0 if LONG else 8.0
PACE_S = 20.0 if LONG else 4.0
"""How long each part of a stream takes to produce."""


async def test_the_broker_stopped_and_restarted_mid_stream(
    private_kafka: PrivateKafka,  # first: torn down after the worker has stopped
    worker_factory: Callable[..., WorkerProcess],
    signals_config: Path,
) -> None:
    timeline = Timeline()
    worker = worker_factory(
        PULSE_SIGNALS_CONFIG_FILE=str(signals_config),
        PULSE_RULES_FILE=str(signals_config.parent / "rules.yaml"),
        PULSE_KAFKA_BOOTSTRAP=private_kafka.bootstrap,
        PULSE_REDIS_URL=private_kafka.redis_url,
        **FAULT_ENV,
    )
    await asyncio.to_thread(worker.start)
    timeline.mark("ready")
    settings = settings_of(worker)
    records = simulated(accounts=ACCOUNTS, days=DAYS, malformed=0.01)
    half = len(records) // 2
    await produce_paced(private_kafka.bootstrap, settings.topic_prefix, records[:half], PACE_S)

    consumed_at_stop = worker.events_received()
    await asyncio.to_thread(private_kafka.stop_broker)
    timeline.mark("broker stopped")
    await asyncio.sleep(BROKER_DOWN_S)
    ensure_alive(worker)
    await asyncio.to_thread(private_kafka.up)
    timeline.mark("broker up")
    await produce_paced(private_kafka.bootstrap, settings.topic_prefix, records[half:], PACE_S)
    timeline.mark("produced")
    await wait_drained(settings, [worker])
    timeline.mark("caught up")
    report = await verify_run(settings, records, signals_config, views=True)
    timeline.mark("verified")

    print(f"\nbroker down {BROKER_DOWN_S:.0f} s after {half} of {len(records)} records")
    print(f"(worker had consumed {consumed_at_stop:.0f}); {timeline}\n{report.summary()}")
    assert report.ok, f"{report.summary()}\n{worker.tail()}"
    assert report.events_lost == 0
    assert report.expected_triggers > 10
    ensure_alive(worker)


async def test_redis_stopped_for_a_while_mid_stream(
    kafka_bootstrap: str,
    worker_factory: Callable[..., WorkerProcess],
    signals_config: Path,
    redis_server: RedisServer,
) -> None:
    """Processing and publishing go on without Redis; the view, written from pending
    updates once Redis is back (empty: it keeps no data), ends showing each account's
    latest health."""
    worker = worker_factory(
        PULSE_SIGNALS_CONFIG_FILE=str(signals_config),
        PULSE_RULES_FILE=str(signals_config.parent / "rules.yaml"),
        PULSE_REDIS_URL=redis_server.url,
    )
    await asyncio.to_thread(worker.start)
    settings = settings_of(worker)
    records = simulated(accounts=ACCOUNTS, days=DAYS, malformed=0.01)
    third = len(records) // 3
    prefix = settings.topic_prefix
    await produce_paced(kafka_bootstrap, prefix, records[:third], PACE_S)

    redis_server.stop()
    down_at = time.monotonic()
    await produce_paced(kafka_bootstrap, prefix, records[third : 2 * third], PACE_S)
    await wait_drained(settings, [worker])  # all of it processed and published meanwhile
    await asyncio.sleep(max(0.0, REDIS_DOWN_S - (time.monotonic() - down_at)))
    errors = metric_total(worker, "pulse_redis_write_errors")
    down_for = time.monotonic() - down_at
    redis_server.start()
    await produce_paced(kafka_bootstrap, prefix, records[2 * third :], PACE_S)
    await wait_drained(settings, [worker])
    report = await verify_run(settings, records, signals_config, views=True)

    print(f"\nredis down {down_for:.0f} s, {errors:.0f} failed writes\n{report.summary()}")
    assert errors > 0, "the worker never noticed Redis was down"
    assert report.ok, f"{report.summary()}\n{worker.tail()}"
    assert report.events_lost == 0
    assert report.views_checked is not None
    assert report.views_checked >= ACCOUNTS
    ensure_alive(worker)


async def test_redis_restarted_empty_under_an_idle_worker(
    kafka_bootstrap: str,
    worker_factory: Callable[..., WorkerProcess],
    signals_config: Path,
    redis_server: RedisServer,
) -> None:
    """Redis comes back empty after everything was processed, and no event arrives
    after it: the worker rewrites every account's view from its store by itself."""
    worker = worker_factory(
        PULSE_SIGNALS_CONFIG_FILE=str(signals_config),
        PULSE_RULES_FILE=str(signals_config.parent / "rules.yaml"),
        PULSE_REDIS_URL=redis_server.url,
        PULSE_STORE="rocksdb://",
    )
    await asyncio.to_thread(worker.start)
    settings = settings_of(worker)
    records = simulated(accounts=ACCOUNTS, days=DAYS, malformed=0.0)
    await produce_paced(kafka_bootstrap, settings.topic_prefix, records, PACE_S)
    await wait_drained(settings, [worker])
    before = await verify_run(settings, records, signals_config, views=True)
    assert before.ok, before.summary()
    rebuilds = metric_total(worker, "pulse_redis_view_rebuilds")

    redis_server.stop()
    redis_server.start()  # empty: it keeps no data
    report = await verify_run(settings, records, signals_config, views=True, views_within=45.0)

    print(f"\nafter an empty Redis:\n{report.summary()}")
    assert report.views_checked is not None
    assert report.views_checked >= ACCOUNTS
    assert report.ok, f"{report.summary()}\n{worker.tail()}"
    assert metric_total(worker, "pulse_redis_view_rebuilds") > rebuilds
    assert metric_total(worker, "pulse_redis_views_rebuilt") >= ACCOUNTS
    ensure_alive(worker)
