"""`pulse worker`: start one Pulse worker (several can run side by side)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys

import faust
import redis.asyncio as aioredis
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from engine import gc_tuning, web
from engine.kafka import client_kwargs
from engine.redis_view import RedisProjection
from engine.settings import Settings, SettingsError, load_settings
from engine.signals_files import SignalsFileError
from engine.topics_admin import InternalTopic, TopicAdminError, TopicLike, ensure_topics
from engine.web_commands import CommandWrites, register_writes
from engine.worker import PulseWorker
from signals.errors import SignalsError
from topics.catalogue import TopicKind, catalogue, topic_name
from topics.errors import PulseValidationError

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The worker cannot start; the message says what to fix."""


async def prepare_topics(settings: Settings, worker: PulseWorker) -> None:
    """Create missing topics; refuse to start on a partition mismatch (it would split state)."""
    specs: list[TopicLike] = [*catalogue(settings.topic_prefix, settings.topic_partitions)]
    specs += [InternalTopic(name, settings.topic_partitions) for name in worker.internal_topics]
    admin = AIOKafkaAdminClient(**client_kwargs(settings), request_timeout_ms=15000)
    await admin.start()
    try:
        reports = await ensure_topics(admin, specs, settings.topic_replication_factor)
    finally:
        await admin.close()
    for report in reports:
        if report.status == "created":
            log.info("created topic %s", report.name)
        for difference in report.differences:
            if difference.startswith("partitions"):
                msg = (
                    f"topic {report.name}: {difference}; every Pulse topic must have "
                    f"PULSE_TOPIC_PARTITIONS={settings.topic_partitions} partitions"
                )
                raise StartupError(msg)
            log.warning("topic %s differs from the catalogue: %s", report.name, difference)


def check_port_free(settings: Settings) -> None:
    """faust would fail deep inside start-up with a traceback; say it plainly first."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((settings.web_host, settings.web_port))
        except OSError as exc:
            msg = (
                f"PULSE_WEB_PORT: {settings.web_host}:{settings.web_port} is not available "
                f"({exc.strerror}); another worker may be running there"
            )
            raise StartupError(msg) from None


def build(settings: Settings) -> PulseWorker:
    """The worker with its Redis view and HTTP pages attached (not started)."""
    worker = PulseWorker(settings)
    client = aioredis.Redis.from_url(
        settings.redis_url.get_secret_value(), socket_connect_timeout=2, socket_timeout=2
    )
    projection = RedisProjection(client, worker.metrics, prefix=settings.redis_prefix)
    worker.publisher.view_sink = projection
    projection.rebuild = worker.rebuild_views
    worker.app.task(projection.run)
    token = settings.api_token.get_secret_value() if settings.api_token else None
    write = settings.api_write_token.get_secret_value() if settings.api_write_token else None
    web.register(
        worker.app,
        redis=client,
        prefix=settings.redis_prefix,
        token=token,
        readiness=worker.readiness,
        write_token=write,
    )
    writes = CommandWrites(
        worker.app,
        topic=topic_name(TopicKind.COMMANDS, settings.topic_prefix),
        deployment=settings.topic_prefix,
        read_token=token,
        write_token=write,
        commands=worker.processor.commands,
        redis=client,
        redis_prefix=settings.redis_prefix,
        metrics=worker.metrics,
    )
    register_writes(worker.app, writes)
    return worker


def _command(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    try:
        settings = load_settings()
        check_port_free(settings)
        worker = build(settings)
        asyncio.run(prepare_topics(settings, worker))
    except (
        SettingsError,
        SignalsFileError,
        SignalsError,
        PulseValidationError,
        TopicAdminError,
        StartupError,
    ) as exc:
        print(f"pulse worker: error: {exc}", file=sys.stderr)
        return 2
    except KafkaError as exc:
        print(f"pulse worker: error: Kafka at {settings.kafka_bootstrap}: {exc!r}", file=sys.stderr)
        return 2
    log.info(
        "starting worker %s: brokers %s, clock %s, store %s, redis %s, web %s:%d",
        settings.app_id,
        settings.kafka_bootstrap,
        settings.clock,
        settings.store,
        settings.redis_url_redacted,
        settings.web_host,
        settings.web_port,
    )
    runner = faust.Worker(worker.app, loglevel=args.loglevel, quiet=True)
    gc_tuning.tune(worker.metrics.gc_pause)  # what exists now lives as long as the process
    # faust's terminal spinner sets the root logger to DEBUG at levels of WARNING and
    # above (to spin on every record), so every debug call in aiokafka and faust
    # built a LogRecord: 5% of a busy worker's time. A service has no use for it.
    runner.spinner = None
    runner.execute_from_commandline()
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "worker",
        help="start a Pulse worker (settings from PULSE_* variables)",
        description="Consume the input topics, keep account state, publish triggers, health "
        "snapshots and the Redis account view, and serve HTTP. Settings: PULSE_* variables or "
        "the TOML file in PULSE_CONFIG_FILE.",
    )
    parser.add_argument("--loglevel", default="info", choices=["debug", "info", "warning", "error"])
    parser.set_defaults(func=_command)
