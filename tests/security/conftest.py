"""The secure local broker (SASL_SSL, SCRAM-SHA-512, TLS) and workers that use it.

The broker is the project's own: `deploy/local/stack.sh secure-up` (what `pulse local
secure-up` runs). A session that finds it stopped starts it and stops it at the end; one
that finds it running leaves it running. A broker that cannot be started FAILS the tests
that need it, never skips them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from engine.kafka import client_kwargs
from engine.process import WorkerProcess
from engine.settings import Settings
from tests.conftest import WorkerFactory
from tests.security.hostile import FUZZ_COUNTS

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "deploy" / "local" / "stack.sh"
SECURE_DIR = Path(os.environ.get("PULSE_LOCAL_DIR", ROOT / ".pulse")) / "kafka-secure"


def _stack(action: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PULSE_PYTHON=sys.executable)
    return subprocess.run(
        ["bash", str(STACK), action],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.strip().partition("=")
        if sep:
            values[name] = value
    return values


def settings_from(env: dict[str, str]) -> Settings:
    """Settings from PULSE_* variables given as a dict (the environment is not read)."""
    prefix = "PULSE_"
    fields = {k[len(prefix) :].lower(): v for k, v in env.items() if k.startswith(prefix)}
    return Settings(**fields)


@pytest.fixture(scope="session")
def secure_env() -> Iterator[dict[str, str]]:
    """The PULSE_* client settings of the running secure broker (client.env)."""
    was_running = _stack("secure-status").returncode == 0
    if not was_running:
        started = _stack("secure-up")
        if started.returncode != 0:
            pytest.fail(
                "the secure broker did not start (deploy/local/stack.sh secure-up):\n"
                + started.stdout
                + started.stderr,
                pytrace=False,
            )
    env = read_env_file(SECURE_DIR / "client.env")
    yield env
    if not was_running:
        _stack("secure-down")


@pytest.fixture(scope="session")
def secure_settings(secure_env: dict[str, str]) -> Settings:
    return settings_from(secure_env)


@pytest.fixture(scope="session")
def secure_kwargs(secure_settings: Settings) -> dict[str, Any]:
    """aiokafka client arguments for the secure broker, made by engine.kafka."""
    return client_kwargs(secure_settings)


@pytest.fixture(scope="session")
async def secure_admin(secure_kwargs: dict[str, Any]) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(**secure_kwargs, request_timeout_ms=10000)
    try:
        await admin.start()
        await admin.describe_cluster()
    except Exception as exc:  # noqa: BLE001 - any failure means the broker is unusable
        await admin.close()
        pytest.fail(f"secure broker refused its own credentials: {exc!r}", pytrace=False)
    yield admin
    await admin.close()


@pytest.fixture
async def secure_worker_factory(
    secure_env: dict[str, str], secure_admin: AIOKafkaAdminClient, tmp_path: Path
) -> AsyncIterator[Callable[..., WorkerProcess]]:
    """Workers of one deployment on the secure broker; topics deleted afterwards."""
    factory = WorkerFactory(tmp_path, secure_env, "sec")
    yield factory
    await factory.close(secure_admin)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say how many fuzz inputs the run tried (the issue's closing figures need it)."""
    if FUZZ_COUNTS:
        terminalreporter.write_sep("-", "fuzz inputs tried")
        for name, count in sorted(FUZZ_COUNTS.items()):
            terminalreporter.write_line(f"{name}: {count}")
        terminalreporter.write_line(f"total: {sum(FUZZ_COUNTS.values())}")
