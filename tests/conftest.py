"""Shared fixtures: the real local Kafka broker and Redis.

Tests that need them FAIL when they cannot be reached: a missing broker is a
broken test environment, never a reason to skip. `make test` starts both with
`pulse local up` before pytest runs.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from engine.process import WorkerProcess, free_port

KAFKA_BOOTSTRAP = os.environ.get("PULSE_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
REDIS_URL = os.environ.get("PULSE_REDIS_URL", "redis://127.0.0.1:6379/15")

TopicFactory = Callable[..., Awaitable[str]]


@pytest.fixture(scope="session")
async def kafka_admin() -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA_BOOTSTRAP, request_timeout_ms=5000)
    try:
        await admin.start()
        await admin.describe_cluster()
    except Exception as exc:  # noqa: BLE001 - any failure means the broker is unusable
        await admin.close()
        pytest.fail(
            f"Kafka broker at {KAFKA_BOOTSTRAP} is not reachable ({exc!r}); "
            "start it with `pulse local up` (make test does this)",
            pytrace=False,
        )
    yield admin
    await admin.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_admin: AIOKafkaAdminClient) -> str:
    """The broker address, only once the broker has answered a metadata request."""
    return KAFKA_BOOTSTRAP


@pytest.fixture
async def topic_factory(kafka_admin: AIOKafkaAdminClient) -> AsyncIterator[TopicFactory]:
    """Create uniquely named topics for one test and delete them afterwards."""
    created: list[str] = []

    async def make(prefix: str = "t", partitions: int = 1, **config: str) -> str:
        name = f"test-{prefix}-{uuid.uuid4().hex[:12]}"
        await kafka_admin.create_topics(
            [NewTopic(name, partitions, 1, topic_configs=config)], timeout_ms=10000
        )
        created.append(name)
        return name

    yield make
    if created:
        await kafka_admin.delete_topics(created)


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    """A client on a test database, flushed before and after the test."""
    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        await client.ping()
    except Exception as exc:  # noqa: BLE001
        await client.aclose()
        pytest.fail(
            f"Redis at {REDIS_URL} is not reachable ({exc!r}); "
            "start it with `pulse local up` (make test does this)",
            pytrace=False,
        )
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


class RedisServer:
    """A private redis-server process on a free loopback port, for outage tests."""

    def __init__(self, directory: Path, password: str | None = None) -> None:
        """With ``password``, the server requires AUTH (``requirepass``) and ``url`` has it."""
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail(
                "redis-server is not installed; `pulse local up` installs it", pytrace=False
            )
        self._binary = binary
        self._directory = directory
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.password = password
        auth = "" if password is None else f":{password}@"
        self.url = f"redis://{auth}127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                self._binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self._directory),
                *(() if self.password is None else ("--requirepass", self.password)),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as conn:
                if conn.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        pytest.fail(f"private redis-server on port {self.port} did not start", pytrace=False)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        self._process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A started private Redis that a test may stop and start again."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


class WorkerFactory:
    """Workers sharing one deployment (prefix, app id); each call makes another process."""

    def __init__(self, tmp_path: Path, base: dict[str, str], label: str) -> None:
        self.run = uuid.uuid4().hex[:10]
        self.tmp_path = tmp_path
        self.base = base
        self.label = label
        self.made: list[WorkerProcess] = []

    def __call__(self, **settings: str) -> WorkerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
        env.update(self.base)
        env.update(
            PULSE_TOPIC_PREFIX=f"{self.label}-{self.run}",
            PULSE_APP_ID=f"pulse-{self.label}-{self.run}",
            PULSE_TOPIC_PARTITIONS="3",
            # memory://, fast to start; PULSE_TEST_STORE=rocksdb:// runs them all on
            # production's store (the kill and backlog tests always do).
            PULSE_STORE=os.environ.get("PULSE_TEST_STORE", "memory://"),
            PULSE_CLOCK="event",
            PULSE_DATA_DIR=str(self.tmp_path / f"worker-{len(self.made)}"),
            PULSE_WEB_PORT=str(free_port()),
            PULSE_REDIS_URL=REDIS_URL,
            PULSE_REDIS_PREFIX=f"{self.label}-{self.run}",
            PULSE_TABLE_STANDBY_REPLICAS="0",
        )
        env.update(settings)
        worker = WorkerProcess(env, self.tmp_path / f"worker-{len(self.made)}.log")
        self.made.append(worker)
        return worker

    async def close(self, admin: AIOKafkaAdminClient) -> None:
        """Stop the workers; delete the deployment's topics, internal ones and changelogs."""
        for worker in self.made:
            worker.stop()
        ours = [t for t in await admin.list_topics() if self.run in t]
        if ours and os.environ.get("PULSE_KEEP_TOPICS") != "1":  # kept to look into a failure
            await admin.delete_topics(ours)


@pytest.fixture
async def worker_factory(
    kafka_bootstrap: str, kafka_admin: AIOKafkaAdminClient, tmp_path: Path
) -> AsyncIterator[Callable[..., WorkerProcess]]:
    """Workers sharing one deployment on the local broker."""
    factory = WorkerFactory(tmp_path, {"PULSE_KAFKA_BOOTSTRAP": kafka_bootstrap}, "test")
    yield factory
    await factory.close(kafka_admin)
