"""A second worker joins mid-stream and leaves again: partitions and their account state
move to it and back, and nothing is lost, missed or invented (engine.verify)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.process import WorkerProcess
from tests.engine.test_worker import simulated
from tests.faults.harness import (
    FAULT_ENV,
    LONG,
    ensure_alive,
    produce_paced,
    settings_of,
    verify_run,
    wait_drained,
)

pytestmark = pytest.mark.timeout(2400 if LONG else 300)

ACCOUNTS, DAYS = (30, 45) if LONG else (14, 21)
STREAM_S = 60.0 if LONG else 18.0
ROUNDS = 3 if LONG else 1
"""Join-and-leave rounds within the stream."""


async def until_produced(produced: list[int], count: int) -> None:
    """Poll the paced producer's count (it runs in another task)."""
    while produced[0] < count:  # noqa: ASYNC110 - a counter, not an event
        await asyncio.sleep(0.1)


async def test_a_second_worker_joins_and_leaves_mid_stream(
    kafka_bootstrap: str,
    worker_factory: Callable[..., WorkerProcess],
    signals_config: Path,
) -> None:
    env = {
        "PULSE_SIGNALS_CONFIG_FILE": str(signals_config),
        "PULSE_RULES_FILE": str(signals_config.parent / "rules.yaml"),
        **FAULT_ENV,
    }
    one = worker_factory(**env)
    await asyncio.to_thread(one.start)
    settings = settings_of(one)
    records = simulated(accounts=ACCOUNTS, days=DAYS, malformed=0.01)
    produced = [0]
    producing = asyncio.create_task(
        produce_paced(kafka_bootstrap, settings.topic_prefix, records, STREAM_S, sent=produced)
    )
    step = len(records) // (2 * ROUNDS + 1)
    consumed_by_joiner = []
    for round_ in range(ROUNDS):
        await until_produced(produced, step * (2 * round_ + 1))
        two = worker_factory(**env)
        await asyncio.to_thread(two.start)  # ready: it owns partitions, state recovered
        await until_produced(produced, step * (2 * round_ + 2))
        for _ in range(100):  # and until it has worked on some of them (up to 10 s)
            if two.events_received() > 0:
                break
            await asyncio.sleep(0.1)
        consumed_by_joiner.append(two.events_received())
        assert two.stop() == 0, two.tail()  # leaves the group; its partitions go back
    await producing
    await wait_drained(settings, [one])
    report = await verify_run(settings, records, signals_config)

    print(f"\njoiner consumed {consumed_by_joiner} of {len(records)}\n{report.summary()}")
    assert all(n > 0 for n in consumed_by_joiner), "the joining worker got no partition"
    assert report.ok, f"{report.summary()}\n{one.tail()}"
    assert report.events_lost == 0
    assert report.expected_triggers > 10
    ensure_alive(one)
