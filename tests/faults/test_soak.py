"""Sustained load at a fixed rate (bench.soak): the lag stays bounded, memory stays flat,
and the run verifies (nothing lost, missed or invented). Short here; ten minutes with
PULSE_LONG_TESTS=1."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from bench.soak import soak
from engine.settings import Settings
from tests.conftest import REDIS_URL
from tests.faults.harness import LONG

pytestmark = pytest.mark.timeout(2400 if LONG else 300)

SECONDS = 600.0 if LONG else 30.0
RATE = 200.0 if LONG else 150.0
ACCOUNTS = 300 if LONG else 150
LAG_BOUND_S = 10.0
"""Lag may reach this many seconds of input (commits come every few seconds), no more."""
RSS_GROWTH_MB = 64.0 if LONG else 48.0
"""Growth allowed from the end of warm-up to the end of the load (state grows too)."""


async def test_sustained_load_keeps_lag_bounded_and_memory_flat(
    kafka_bootstrap: str, kafka_admin: AIOKafkaAdminClient, tmp_path: Path
) -> None:
    base = Settings(kafka_bootstrap=kafka_bootstrap, redis_url=REDIS_URL, topic_partitions=3)
    result = await soak(
        base,
        tmp_path,
        seconds=SECONDS,
        rate=RATE,
        accounts=ACCOUNTS,
        sample_every=10.0 if LONG else 2.0,
    )
    try:
        print("\n" + result.table())
        figures = result.figures()
        assert figures["achieved_rate_per_s"] >= 0.9 * RATE, "the producer fell behind"
        assert figures["lag_max"] <= LAG_BOUND_S * RATE, figures
        assert figures["lag_end"] <= LAG_BOUND_S * RATE, figures
        assert figures["outputs_end"] > figures["outputs_start"], "no output while loaded"
        growth = figures["rss_end_mb"] - figures["rss_start_mb"]
        assert growth <= RSS_GROWTH_MB, figures
        assert result.report is not None
        assert result.report.ok, result.report.summary()
        assert result.report.events_lost == 0
    finally:
        ours = [t for t in await kafka_admin.list_topics() if result.prefix in t]
        if ours:
            await kafka_admin.delete_topics(ours)
