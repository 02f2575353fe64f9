"""A live worker's commit window (engine.runtime.checkpoint): states written and input
committed once per PULSE_COMMIT_INTERVAL_SECONDS, and the last window before input
stops committed too, without waiting for more input or a stop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from engine.lag import ConsumerLag
from engine.verify import changelog_topic
from tests.conftest import WorkerProcess
from tests.engine.test_worker import produce
from tests.signals.factories import usage
from topics.catalogue import TopicKind, topic_name
from topics.codec import encode

INTERVAL = 2.0


async def test_the_last_window_is_committed_once_due_while_input_is_quiet(
    kafka_bootstrap: str, worker_factory: Callable[..., WorkerProcess]
) -> None:
    """On the wall clock with a tick an hour away nothing else reaches the agent after
    the last event: only the commit timer can write the states and commit the input."""
    worker = worker_factory(
        PULSE_CLOCK="wall",
        PULSE_TICK_CHECK_SECONDS="3600",
        PULSE_COMMIT_INTERVAL_SECONDS=str(INTERVAL),
    )
    worker.start()
    prefix, app_id = worker.env["PULSE_TOPIC_PREFIX"], worker.env["PULSE_APP_ID"]
    now = datetime.now(UTC) - timedelta(minutes=5)
    accounts = [f"acct-{i}" for i in range(12)]
    records = [
        (TopicKind.USAGE, account.encode(), encode(usage("Signed In", now, account=account)))
        for account in accounts
        for _ in range(3)
    ]
    await produce(kafka_bootstrap, prefix, records)
    sent = time.monotonic()

    inputs = [topic_name(TopicKind.USAGE, prefix)]
    changelog = changelog_topic(app_id)
    async with ConsumerLag(app_id, inputs, bootstrap_servers=kafka_bootstrap) as lag:
        behind = await lag.total()
        while behind and time.monotonic() - sent < 10 * INTERVAL:
            await asyncio.sleep(0.2)
            behind = await lag.total()
        committed_after = time.monotonic() - sent
        states = (await lag.end_offsets([changelog]))[changelog]

    assert worker.process.poll() is None, "the worker is still running"
    assert behind == 0, f"input not committed {committed_after:.1f}s after the last event"
    assert states >= len(accounts), "every account's state written before the commit"
    print(f"\ninput committed {committed_after:.1f}s after the last event (interval {INTERVAL}s)")
