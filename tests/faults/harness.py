"""Shared by the fault tests: paced production, waiting for a worker to catch up, verifying
a run with engine.verify, and a private Kafka broker started with the project's stack script."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from engine.lag import caught_up
from engine.process import WorkerProcess
from engine.settings import Settings
from engine.signals_files import read_config, read_rules
from engine.verify import OUTPUT_KINDS, RunOutput, VerifyReport, changelog_topic, verify
from engine.verify_cli import decode_inputs, read_to_end, read_views, settings_for
from tests.conftest import free_port
from topics.catalogue import TopicKind, topic_name

LONG = os.environ.get("PULSE_LONG_TESTS") == "1"
"""Long versions of the fault and soak runs (PULSE_LONG_TESTS=1); short ones otherwise."""

FAULT_ENV = {
    "BROKER_SESSION_TIMEOUT": "6",
    "BROKER_HEARTBEAT_INTERVAL": "1",
    "BROKER_REBALANCE_TIMEOUT": "20",
    "PULSE_COMMIT_INTERVAL_SECONDS": "1",
}
"""Settings for runs that fault every few seconds. faust's, read from the environment:
the group notices a killed worker after 6 s (the broker's minimum session) instead of
faust's default 60 s. The commit window pinned at 1 s (the default): a worker killed
every few seconds still commits, and these runs put three weeks of event time into a
minute, so with 5 s windows the clock ran past the lateness bound between two saved
states and ``verify`` could look for few events in them (``engine.verify_history``)."""


ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "deploy" / "local" / "stack.sh"

Records = list[tuple[TopicKind, bytes | None, bytes]]


async def produce_paced(
    bootstrap: str,
    prefix: str,
    records: Records,
    seconds: float,
    *,
    sent: list[int] | None = None,
) -> None:
    """Produce the records in order, spread evenly over ``seconds``; ``sent`` (a one-item
    list) counts them as they go, for callers that act at a point of the stream."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        begin = time.monotonic()
        for i, (kind, key, value) in enumerate(records):
            due = begin + seconds * i / max(len(records), 1)
            if due > time.monotonic():
                await producer.flush()
                await asyncio.sleep(due - time.monotonic())
            await producer.send(topic_name(kind, prefix), key=key, value=value)
            if sent is not None:
                sent[0] = i + 1
        await producer.flush()
    finally:
        await producer.stop()


def settings_of(worker: WorkerProcess) -> Settings:
    """The settings a verifier needs to read what this worker's deployment wrote."""
    return settings_for(worker.env)


async def wait_drained(
    settings: Settings, workers: Sequence[WorkerProcess], *, within: float = 180.0
) -> None:
    """Until the worker has caught up (engine.lag.caught_up); fails at once when one of
    ``workers`` has exited."""

    try:
        await caught_up(settings, within=within, check=lambda: ensure_alive(*workers))
    except TimeoutError as exc:
        msg = f"{exc}\n{diagnose(workers)}"
        raise AssertionError(msg) from None


DIAGNOSTIC_METRICS = (
    "pulse_event_clock_timestamp_seconds",
    "pulse_consumer_lag_messages",
    "pulse_input_skipped",
    "pulse_input_refetched",
    "pulse_events_in",
)


def diagnose(workers: Sequence[WorkerProcess], log_lines: int = 40) -> str:
    """What each worker says about its event clocks, lag and input (nonzero values
    only), and the end of its log."""
    lines = []
    for worker in workers:
        status, body = worker.get("/metrics")
        lines.append(f"worker on port {worker.port}: /metrics {status}")
        for family in text_string_to_metric_families(body.decode(errors="replace")):
            if family.name not in DIAGNOSTIC_METRICS:
                continue
            for sample in family.samples:
                clock = family.name.endswith("timestamp_seconds")
                if sample.name.endswith("_created") or not (clock or sample.value):
                    continue
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                lines.append(f"  {sample.name}{{{labels}}} {sample.value:.3f}")
        lines.append(f"  last {log_lines} lines of {worker.log}:")
        lines.extend(f"    {line}" for line in worker.tail(log_lines).splitlines())
        if worker.process is not None and worker.process.poll() is None:
            # mode's worker dumps every thread's and asyncio task's stack on SIGUSR1
            worker.process.send_signal(signal.SIGUSR1)
            time.sleep(2.0)
            lines.append(f"  stacks of its threads and tasks (SIGUSR1): end of {worker.log}")
    return "\n".join(lines)


async def verify_run(
    settings: Settings,
    records: Records,
    config_path: Path,
    *,
    views: bool = False,
    views_within: float = 30.0,
) -> VerifyReport:
    """Verify a finished run: the produced records against everything its topics hold
    (and the Redis view, which may take a few seconds to catch up)."""
    by_kind: dict[TopicKind, list[bytes | None]] = defaultdict(list)
    for kind, _, value in records:
        by_kind[kind].append(value)
    events, invalid = decode_inputs(by_kind, settings.max_message_bytes, settings.stripe_options)
    outputs = {kind: topic_name(kind, settings.topic_prefix) for kind in OUTPUT_KINDS}
    changelog = changelog_topic(settings.app_id)
    read = await read_to_end(settings, [*outputs.values(), changelog])
    got = read.values
    config = read_config(config_path)
    rules = read_rules(config_path.parent / "rules.yaml")  # as the workers (signals_config)
    deadline = time.monotonic() + views_within
    while True:
        run = RunOutput.decode(
            {kind: [v for v in got[name] if v is not None] for kind, name in outputs.items()},
            got[changelog],
            compacted=read.missing[changelog],
        )
        if views:
            run.views = await read_views(settings, sorted({s.account_id for s in run.health}))
        report = verify(events, run, config, rules, invalid_inputs=invalid)
        if not report.stale_views or time.monotonic() > deadline:
            return report
        await asyncio.sleep(1.0)


class WorkerExited(AssertionError):
    """A worker process ended while it should have kept running."""


def alive(worker: WorkerProcess) -> bool:
    return worker.process is not None and worker.process.poll() is None


def ensure_alive(*workers: WorkerProcess) -> None:
    """Raise WorkerExited, with the log's tail, if one of the workers has ended."""
    for worker in workers:
        if not alive(worker):
            msg = f"the worker exited:\n{worker.tail()}"
            raise WorkerExited(msg)


class PrivateKafka:
    """A Kafka broker (and Redis) of this test alone, started by deploy/local/stack.sh in a
    temporary PULSE_LOCAL_DIR on free ports, so it can be stopped without touching the
    shared stack. The broker jars come from the shared stack's cache when it has them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.kafka_port = free_port()
        self.redis_port = free_port()
        self.env = {
            **os.environ,
            "PULSE_LOCAL_DIR": str(directory),
            "PULSE_KAFKA_PORT": str(self.kafka_port),
            "PULSE_KAFKA_CONTROLLER_PORT": str(free_port()),
            "PULSE_REDIS_PORT": str(self.redis_port),
            "PULSE_PYTHON": sys.executable,
        }
        shared = Path(os.environ.get("PULSE_LOCAL_DIR", ROOT / ".pulse")) / "cache"
        directory.mkdir(parents=True, exist_ok=True)
        if shared.is_dir():
            (directory / "cache").symlink_to(shared, target_is_directory=True)
        self.bootstrap = f"127.0.0.1:{self.kafka_port}"
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"

    def _stack(self, action: str) -> None:
        if shutil.which("java") is None:
            pytest.fail("java is not installed; the local stack needs it", pytrace=False)
        result = subprocess.run(
            ["bash", str(STACK), action],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(
                f"stack.sh {action} (private broker) failed:\n{result.stdout}{result.stderr}",
                pytrace=False,
            )

    def up(self) -> None:
        """Start the broker and Redis, or only the broker when Redis still runs."""
        self._stack("up")

    def down(self) -> None:
        self._stack("down")

    def stop_broker(self, sig: int = signal.SIGTERM) -> None:
        """Stop only the broker, by the pid the script recorded, and wait until it is gone
        (reaped too: the script takes a zombie for a running broker)."""
        pid = int((self.directory / "kafka" / "kafka.pid").read_text())
        os.kill(pid, sig)
        started = time.monotonic()
        while Path(f"/proc/{pid}").exists():
            waited = time.monotonic() - started
            if waited > 90:
                pytest.fail(f"private broker (pid {pid}) still there 90 s after {sig!r}")
            if waited > 60:
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)


def metric_total(worker: WorkerProcess, name: str) -> float:
    """The sum of a metric family's samples on the worker's /metrics (0 when absent)."""
    status, body = worker.get("/metrics")
    assert status == 200, f"/metrics answered {status}"
    return sum(
        sample.value
        for family in text_string_to_metric_families(body.decode())
        if family.name == name
        for sample in family.samples
    )


class Timeline:
    """Seconds since creation at each named step, printed with the test's figures."""

    def __init__(self) -> None:
        self._begin = time.monotonic()
        self.steps: list[tuple[str, float]] = []

    def mark(self, step: str) -> None:
        self.steps.append((step, time.monotonic() - self._begin))

    def __str__(self) -> str:
        return "  ".join(f"{step} {at:.0f}s" for step, at in self.steps)
