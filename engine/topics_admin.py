"""`pulse topics create`: create the catalogue's topics and report drift.

Idempotent: a topic that exists is compared with the catalogue (partitions,
replication, cleanup policy, retention, size limit) and never altered, since
changing partitions or compaction under a running system breaks keying and
state; differences are reported so an operator can decide.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from engine.kafka import client_kwargs
from engine.settings import Settings, SettingsError, load_settings
from topics.catalogue import TopicSpec, catalogue
from topics.errors import PulseError, PulseValidationError

TOPIC_ALREADY_EXISTS = 36


class TopicAdminError(PulseError):
    """The broker refused to create or describe a topic."""


class TopicLike(Protocol):
    """What creating and comparing a topic needs: catalogue specs and internal topics."""

    @property
    def name(self) -> str: ...
    @property
    def partitions(self) -> int: ...
    @property
    def config(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class InternalTopic:
    """A topic of one worker deployment (re-keying, user resolution, ticks)."""

    name: str
    partitions: int
    retention_ms: int = 7 * 86_400_000

    @property
    def config(self) -> dict[str, str]:
        return {"cleanup.policy": "delete", "retention.ms": str(self.retention_ms)}


@dataclass(frozen=True)
class TopicReport:
    name: str
    status: Literal["created", "exists", "differs"]
    differences: list[str] = field(default_factory=list)


async def _create_missing(
    admin: AIOKafkaAdminClient, specs: Sequence[TopicLike], replication: int
) -> set[str]:
    """Create topics; return the names this call created (a concurrent creator's don't count)."""
    if not specs:
        return set()
    response = await admin.create_topics(
        [NewTopic(s.name, s.partitions, replication, topic_configs=s.config) for s in specs]
    )
    created: set[str] = set()
    for result in response.to_object()["topic_errors"]:
        code, name = result["error_code"], result["topic"]
        if code == 0:
            created.add(name)
        elif code != TOPIC_ALREADY_EXISTS:
            msg = f"creating topic {name} failed: error {code}: {result['error_message']}"
            raise TopicAdminError(msg)
    return created


async def _live_configs(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    responses = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    )
    configs: dict[str, dict[str, str]] = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            if resource["error_code"] != 0:
                msg = (
                    f"describing topic {resource['resource_name']} failed: "
                    f"error {resource['error_code']}: {resource['error_message']}"
                )
                raise TopicAdminError(msg)
            configs[resource["resource_name"]] = {
                entry["config_names"]: entry["config_value"] for entry in resource["config_entries"]
            }
    return configs


DESCRIBE_ATTEMPTS = 20
DESCRIBE_PAUSE_S = 0.25


async def _described(
    admin: AIOKafkaAdminClient, names: list[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, str]]]:
    """Topics' metadata and configs, asked again (for up to 5 s) while one shows no
    partitions or no config yet: a topic a concurrent worker has just created is
    described so by the broker for a moment, which is not a difference to refuse."""
    live: dict[str, dict[str, Any]] = {}
    configs: dict[str, dict[str, str]] = {}
    for attempt in range(DESCRIBE_ATTEMPTS):
        if not names:
            break
        live = {t["topic"]: t for t in await admin.describe_topics(names)}
        configs = await _live_configs(admin, names)
        settling = [n for n in names if not live.get(n, {}).get("partitions") or not configs.get(n)]
        if not settling or attempt == DESCRIBE_ATTEMPTS - 1:
            break
        await asyncio.sleep(DESCRIBE_PAUSE_S)
    return live, configs


def _differences(
    spec: TopicLike, replication: int, live: dict[str, Any], config: dict[str, str]
) -> list[str]:
    found = []
    partitions = live["partitions"]
    if len(partitions) != spec.partitions:
        found.append(
            f"partitions: {len(partitions)} on the broker, {spec.partitions} in the catalogue"
        )
    replicas = min((len(p["replicas"]) for p in partitions), default=0)
    if replicas != replication:
        found.append(f"replication factor: {replicas} on the broker, {replication} wanted")
    for key, wanted in spec.config.items():
        actual = config.get(key)
        if actual != wanted:
            found.append(f"{key}: {actual} on the broker, {wanted} in the catalogue")
    return found


async def ensure_topics(
    admin: AIOKafkaAdminClient, specs: Sequence[TopicLike], replication: int
) -> list[TopicReport]:
    """Create what is missing, compare what exists, in catalogue order."""
    existing = set(await admin.list_topics())
    created = await _create_missing(
        admin, [s for s in specs if s.name not in existing], replication
    )
    to_compare = [s.name for s in specs if s.name not in created]
    live, configs = await _described(admin, to_compare)
    reports = []
    for spec in specs:
        if spec.name in created:
            reports.append(TopicReport(spec.name, "created"))
            continue
        diffs = _differences(spec, replication, live[spec.name], configs.get(spec.name, {}))
        reports.append(TopicReport(spec.name, "differs" if diffs else "exists", diffs))
    return reports


async def create_catalogue(settings: Settings, prefix: str, partitions: int) -> list[TopicReport]:
    admin = AIOKafkaAdminClient(**client_kwargs(settings), request_timeout_ms=15000)
    await admin.start()
    try:
        return await ensure_topics(
            admin, catalogue(prefix, partitions), settings.topic_replication_factor
        )
    finally:
        await admin.close()


def _describe(spec: TopicSpec) -> str:
    days = spec.retention_ms / 86_400_000
    retention = "forever" if spec.retention_ms < 0 else f"{days:g}d"
    return f"{spec.partitions} partitions, {spec.cleanup_policy}, retention {retention}"


def _command(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
        prefix = args.prefix or settings.topic_prefix
        partitions = args.partitions or settings.topic_partitions
        specs = {s.name: s for s in catalogue(prefix, partitions)}
        reports = asyncio.run(create_catalogue(settings, prefix, partitions))
    except (SettingsError, PulseValidationError, TopicAdminError) as exc:
        print(f"pulse topics: error: {exc}", file=sys.stderr)
        return 2
    except KafkaError as exc:
        print(f"pulse topics: error: Kafka at {settings.kafka_bootstrap}: {exc!r}", file=sys.stderr)
        return 2
    width = max(len(r.name) for r in reports)
    for report in reports:
        if report.status == "differs":
            status, detail = "DIFFERS", "; ".join(report.differences)
        else:
            status, detail = report.status, _describe(specs[report.name])
        print(f"{report.name:<{width}}  {status:<8}  {detail}")
    drifted = [r for r in reports if r.status == "differs"]
    if drifted:
        print(
            f"pulse topics: {len(drifted)} topic(s) differ from the catalogue; existing topics are "
            "never altered: fix them with Kafka's admin tools or use another prefix",
            file=sys.stderr,
        )
        return 1
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("topics", help="manage Pulse's Kafka topics")
    actions = parser.add_subparsers(dest="topics_command", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create",
        help="create the catalogue's topics (idempotent) and report drift",
        description="Create every Pulse topic that is missing; compare the others with the "
        "catalogue and report differences (exit 1) without altering them.",
    )
    create.add_argument("--prefix", help="topic name prefix (default: PULSE_TOPIC_PREFIX or pulse)")
    create.add_argument(
        "--partitions", type=int, help="partitions per topic (default: PULSE_TOPIC_PARTITIONS or 6)"
    )
    create.set_defaults(func=_command)
