"""`pulse topics create` against the real broker: create, re-run, detect drift."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from engine.topics_admin import ensure_topics
from topics.catalogue import TopicKind, catalogue, topic_name


@pytest.fixture
async def prefix(kafka_admin: AIOKafkaAdminClient) -> AsyncIterator[str]:
    """A prefix no other test uses; its topics are deleted afterwards."""
    value = f"test-{uuid.uuid4().hex[:10]}"
    yield value
    ours = [t for t in await kafka_admin.list_topics() if t.startswith(value + ".")]
    if ours:
        await kafka_admin.delete_topics(ours)


async def configs_of(
    admin: AIOKafkaAdminClient, topic: str, within: float = 15.0
) -> dict[str, str]:
    """A topic's configuration as the broker describes it. Just after creation the broker
    may describe none of it yet (the topic's metadata is still propagating; seen once in
    a full run), so ask again for a while before judging."""
    deadline = time.monotonic() + within
    while True:
        described = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        entries = {
            e["config_names"]: e["config_value"]
            for e in described[0].to_object()["resources"][0]["config_entries"]
        }
        if "cleanup.policy" in entries or time.monotonic() >= deadline:
            return entries
        await asyncio.sleep(0.5)


def run_cli(*args: str, bootstrap: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PULSE_KAFKA_BOOTSTRAP=bootstrap)
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", "topics", "create", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_creates_every_topic_with_catalogue_settings(
    kafka_admin: AIOKafkaAdminClient, prefix: str
) -> None:
    specs = catalogue(prefix, partitions=2)
    reports = await ensure_topics(kafka_admin, specs, replication=1)

    assert [(r.name, r.status) for r in reports] == [(s.name, "created") for s in specs]
    health = topic_name(TopicKind.HEALTH, prefix)
    entries = await configs_of(kafka_admin, health)
    assert entries.get("cleanup.policy") == "compact", entries
    (topic,) = await kafka_admin.describe_topics([health])
    assert len(topic["partitions"]) == 2


async def test_second_run_reports_unchanged_and_drift_is_named(
    kafka_bootstrap: str, kafka_admin: AIOKafkaAdminClient, prefix: str
) -> None:
    first = run_cli("--prefix", prefix, "--partitions", "2", bootstrap=kafka_bootstrap)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count(" created ") == len(TopicKind)

    again = run_cli("--prefix", prefix, "--partitions", "2", bootstrap=kafka_bootstrap)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count(" exists ") == len(TopicKind)
    assert "created" not in again.stdout

    usage = topic_name(TopicKind.USAGE, prefix)
    await kafka_admin.alter_configs(
        [ConfigResource(ConfigResourceType.TOPIC, usage, configs={"retention.ms": "3600000"})]
    )
    drift = run_cli("--prefix", prefix, "--partitions", "2", bootstrap=kafka_bootstrap)

    assert drift.returncode == 1
    usage_line = next(line for line in drift.stdout.splitlines() if line.startswith(usage))
    assert "DIFFERS" in usage_line
    assert "retention.ms: 3600000 on the broker, 1209600000 in the catalogue" in usage_line
    others = [line for line in drift.stdout.splitlines() if not line.startswith(usage)]
    assert all(" exists " in line for line in others)
    assert "1 topic(s) differ" in drift.stderr


def test_unreachable_broker_is_a_clear_error() -> None:
    result = run_cli("--prefix", "unused", bootstrap="127.0.0.1:1")
    assert result.returncode == 2
    assert "pulse topics: error: Kafka at 127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr
