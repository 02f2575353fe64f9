"""Consumer-group lag, measured from outside: end offsets minus the group's committed offsets.

Through clients of our own (an admin client for the group's offsets, a consumer
without a group for end offsets), so it can watch any worker, or none.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from engine.kafka import client_kwargs
from engine.settings import Settings
from engine.verify import OUTPUT_KINDS, changelog_topic
from topics.catalogue import INPUT_KINDS, topic_name


async def partitions_of(admin: AIOKafkaAdminClient, topics: Sequence[str]) -> list[TopicPartition]:
    """The partitions of those topics that exist (a consumer without a subscription has no
    metadata to ask)."""
    if not topics:
        return []
    described = await admin.describe_topics(list(dict.fromkeys(topics)))
    return [
        TopicPartition(topic["topic"], partition["partition"])
        for topic in described
        if topic["error_code"] == 0
        for partition in sorted(topic["partitions"], key=lambda p: p["partition"])
    ]


class ConsumerLag:
    """Lag of one consumer group on some topics; ``async with`` starts and stops its clients."""

    def __init__(self, group: str, topics: Sequence[str], **client: Any) -> None:
        self.group = group
        self.topics = tuple(topics)
        self._admin = AIOKafkaAdminClient(**client, request_timeout_ms=10_000)
        self._consumer = AIOKafkaConsumer(**client, group_id=None, enable_auto_commit=False)
        self._partitions: list[TopicPartition] = []

    async def __aenter__(self) -> ConsumerLag:
        await self._admin.start()
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        # Let the consumer's internal task start first: aiokafka's NoGroupCoordinator.close
        # raises CancelledError when it cancels a task that never ran.
        await asyncio.sleep(0)
        try:
            await self._consumer.stop()
        finally:
            await self._admin.close()

    async def _known_partitions(self) -> list[TopicPartition]:
        """The topics' partitions; asked again until every topic exists."""
        if len({tp.topic for tp in self._partitions}) < len(set(self.topics)):
            self._partitions = await self._partitions_of(self.topics)
        return self._partitions

    async def _partitions_of(self, topics: Sequence[str]) -> list[TopicPartition]:
        return await partitions_of(self._admin, topics)

    async def by_topic(self) -> dict[str, int]:
        """Messages not yet committed by the group, per topic (a partition the group never
        committed counts from its first offset)."""
        partitions = await self._known_partitions()
        lag = dict.fromkeys(self.topics, 0)
        if not partitions:
            return lag
        committed = await self._admin.list_consumer_group_offsets(self.group)
        ends = await self._consumer.end_offsets(partitions)
        starts = await self._consumer.beginning_offsets(partitions)
        for tp in partitions:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else starts[tp]
            lag[tp.topic] += max(0, ends[tp] - done)
        return lag

    async def total(self) -> int:
        return sum((await self.by_topic()).values())

    async def end_offsets(self, topics: Sequence[str]) -> dict[str, int]:
        """The sum of each topic's end offsets: it grows with every message written to it."""
        partitions = await self._partitions_of(topics)
        ends = await self._consumer.end_offsets(partitions) if partitions else {}
        sums = dict.fromkeys(topics, 0)
        for tp, end in ends.items():
            sums[tp.topic] += end
        return sums


async def caught_up(
    settings: Settings,
    *,
    quiet: float = 5.0,
    within: float = 180.0,
    check: Callable[[], None] | None = None,
) -> None:
    """Wait until the deployment's group has committed every input message and, for
    ``quiet`` seconds, nothing was written to its output topics or state changelog.

    An event-clock worker's last sweep comes a few seconds after its last event, and a
    re-keyed event shows in the changelog. Internal topics are not watched: event-clock
    workers write watermarks to them all the time. ``check`` runs on every poll (to fail
    early, e.g. when a worker exited). Raises TimeoutError after ``within`` seconds.
    """
    app = settings.app_id
    inputs = [topic_name(kind, settings.topic_prefix) for kind in INPUT_KINDS]
    written = [topic_name(kind, settings.topic_prefix) for kind in OUTPUT_KINDS]
    written.append(changelog_topic(app))
    deadline = time.monotonic() + within
    async with ConsumerLag(app, inputs, **client_kwargs(settings)) as lag:
        last: dict[str, int] | None = None
        still_since = time.monotonic()
        while True:
            if check is not None:
                check()
            behind = await lag.by_topic()
            ends = await lag.end_offsets(written)
            if any(behind.values()) or ends != last:
                last, still_since = ends, time.monotonic()
            elif time.monotonic() - still_since >= quiet:
                return
            if time.monotonic() > deadline:
                msg = f"not caught up within {within}s: lag {behind}, outputs {ends}"
                raise TimeoutError(msg)
            await asyncio.sleep(0.5)
