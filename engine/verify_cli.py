"""`pulse verify`: check a deployment's outputs against a replay of its input topics.

Reads every input topic, output topic and the account-state changelog of the
deployment in the PULSE_* settings up to their current ends, replays the valid
input and prints ``engine.verify``'s report. Exit status 0 when nothing was lost,
missed or invented, 1 when something was, 2 when it cannot check. Meant for the
event clock (PULSE_CLOCK=event), where a worker's result is the replay's; run it
once the worker has caught up.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from engine.kafka import client_kwargs
from engine.lag import partitions_of
from engine.redis_view import read_account
from engine.settings import Settings, SettingsError, load_settings
from engine.signals_files import SignalsFileError, read_config, read_rules
from engine.verify import OUTPUT_KINDS, RunOutput, VerifyReport, changelog_topic, verify
from signals.errors import SignalsError
from topics.catalogue import INPUT_KINDS, TopicKind, topic_name
from topics.codec import decode_input
from topics.errors import PulseIgnored, PulseValidationError
from topics.models import InputEvent


def settings_for(env: Mapping[str, str]) -> Settings:
    """The settings of a worker started with this environment (its PULSE_* variables)."""
    prefix = "PULSE_"
    fields = {k[len(prefix) :].lower(): v for k, v in env.items() if k.startswith(prefix)}
    return Settings.model_validate(fields)


@dataclass
class TopicsRead:
    """Every value read from some topics, and how many of their offsets held none."""

    values: dict[str, list[bytes | None]]
    """topic -> its values, partition by partition, each partition in offset order"""
    missing: dict[str, int]
    """topic -> offsets between its first and end offsets without a record: removed by
    compaction (or transaction markers). A compacted changelog no longer holds every
    state a worker wrote."""


async def read_to_end(
    settings: Settings, topics: Sequence[str], *, within: float = 300.0
) -> TopicsRead:
    """Every value on the topics, from the start up to their ends as of now; partition by
    partition, so one key's values are in order. A topic that does not exist reads empty."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings), request_timeout_ms=10_000)
    await admin.start()
    try:
        partitions = await partitions_of(admin, topics)
    finally:
        await admin.close()
    got = TopicsRead({topic: [] for topic in topics}, dict.fromkeys(topics, 0))
    consumer = AIOKafkaConsumer(**client_kwargs(settings), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        if not partitions:
            return got
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        firsts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        by_partition: dict[TopicPartition, list[bytes | None]] = {tp: [] for tp in partitions}
        remaining = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        deadline = time.monotonic() + within
        while remaining:
            if time.monotonic() > deadline:
                msg = f"could not read {sorted(t.topic for t in remaining)} to the end in {within}s"
                raise TimeoutError(msg)
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batch.items():
                by_partition[tp] += [r.value for r in records if r.offset < ends[tp]]
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
        for tp in partitions:
            got.values[tp.topic] += by_partition[tp]
            got.missing[tp.topic] += max(0, ends[tp] - firsts[tp] - len(by_partition[tp]))
    finally:
        await consumer.stop()
    return got


def decode_inputs(
    values: dict[TopicKind, Sequence[bytes | None]],
    max_bytes: int,
    stripe: Mapping[str, Any] | None = None,
) -> tuple[list[tuple[str, InputEvent]], int]:
    """The valid events as ``(topic kind, event)`` and how many messages did not decode."""
    events: list[tuple[str, InputEvent]] = []
    invalid = 0
    for kind, raws in values.items():
        for raw in raws:
            try:
                event = decode_input(kind, raw or b"", max_bytes=max_bytes, stripe=stripe)
                events.append((kind.value, event))
            except PulseValidationError:
                invalid += 1
            except PulseIgnored:
                continue  # the worker counts these as ignored too, not as invalid
    return events, invalid


async def read_views(settings: Settings, accounts: Sequence[str]) -> dict[str, Any]:
    """The Redis account view document of each account that has one."""
    client = aioredis.Redis.from_url(
        settings.redis_url.get_secret_value(), socket_connect_timeout=3, socket_timeout=5
    )
    views: dict[str, Any] = {}
    try:
        for account in accounts:
            document = await read_account(client, account, settings.redis_prefix)
            if document is not None:
                views[account] = orjson.loads(document)
    finally:
        await client.aclose()
    return views


async def verify_deployment(settings: Settings, *, with_views: bool = False) -> VerifyReport:
    """Read the deployment's topics (and Redis view), replay its input, compare."""
    prefix = settings.topic_prefix
    inputs = {kind: topic_name(kind, prefix) for kind in INPUT_KINDS}
    outputs = {kind: topic_name(kind, prefix) for kind in OUTPUT_KINDS}
    changelog = changelog_topic(settings.app_id)
    read = await read_to_end(settings, [*inputs.values(), *outputs.values(), changelog])
    got = read.values
    events, invalid = decode_inputs(
        {kind: got[name] for kind, name in inputs.items()},
        settings.max_message_bytes,
        settings.stripe_options,
    )
    run = RunOutput.decode(
        {kind: [v for v in got[name] if v is not None] for kind, name in outputs.items()},
        got[changelog],
        compacted=read.missing[changelog],
    )
    if with_views:
        run.views = await read_views(settings, sorted({s.account_id for s in run.health}))
    return verify(
        events,
        run,
        read_config(settings.signals_config_file),
        read_rules(settings.rules_file),
        event_clock=settings.clock == "event",
        invalid_inputs=invalid,
    )


def _command(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
        if settings.clock != "event":
            print(
                "pulse verify: error: a wall-clock worker's output depends on when events "
                "arrived; verify a deployment that runs PULSE_CLOCK=event",
                file=sys.stderr,
            )
            return 2
        report = asyncio.run(verify_deployment(settings, with_views=args.redis))
    except (SettingsError, SignalsFileError, SignalsError) as exc:
        print(f"pulse verify: error: {exc}", file=sys.stderr)
        return 2
    except (KafkaError, TimeoutError) as exc:
        print(f"pulse verify: error: reading the topics: {exc!r}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0 if report.ok else 1


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "verify",
        help="check a deployment's outputs against a replay of its input (event clock)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--redis",
        action="store_true",
        help="also check that each Redis view shows its latest health",
    )
    parser.set_defaults(func=_command)
