"""Soak: one worker under sustained load at a fixed rate; consumer lag and RSS over time.

Run: ``.venv/bin/python -m bench.soak [--minutes 10 | --seconds 60] [--rate 200]``.

A simulated customer base (no Segment user-only events) is produced in event-time
order at a fixed rate onto fresh topics, read by one worker on the event clock
with in-memory state. Every few seconds the group's lag (end offsets minus
committed, through our own clients) and the worker's resident memory (VmRSS from
/proc) are sampled. At the end the worker's clocks are carried past the last
event, and ``pulse verify``'s check runs: nothing lost, missed or invented.

Prints the time series as a table with start and end figures, and writes them
as JSON (``--json``, default out/bench-soak.json).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import math
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from engine.demo import closing_events, worker_env
from engine.kafka import client_kwargs
from engine.lag import ConsumerLag, caught_up
from engine.process import WorkerProcess, free_port
from engine.settings import Settings, load_settings
from engine.simulator.generator import Simulation, SimulationConfig
from engine.topics_admin import create_catalogue
from engine.verify import OUTPUT_KINDS, VerifyReport, changelog_topic
from engine.verify_cli import settings_for, verify_deployment
from topics.catalogue import INPUT_KINDS, TopicKind, topic_name

EVENTS_PER_ACCOUNT_DAY = 2.0
"""A little under what the simulator makes without Segment, so the stream outlasts the run."""


@dataclass(frozen=True)
class Sample:
    seconds: float
    produced: int
    lag: int
    """Input messages not yet committed by the worker's group."""
    outputs: int
    """Trigger and health messages published so far."""
    rss_mb: float
    event_clock: str = ""
    """The lowest event clock of the worker's account partitions (simulated time, UTC),
    empty before it started: how far the stream has been applied."""


@dataclass
class SoakResult:
    prefix: str
    """Topic prefix of the run (the worker's app id is ``pulse-{prefix}``)."""
    seconds: float
    rate: float
    accounts: int
    produced: int = 0
    samples: list[Sample] = field(default_factory=list)
    drain_s: float = 0.0
    report: VerifyReport | None = None

    @property
    def warm(self) -> list[Sample]:
        """Samples after the first tenth of the run (at least 5 s): start-up aside."""
        skip = max(5.0, self.seconds / 10)
        return [s for s in self.samples if s.seconds >= skip] or self.samples

    def figures(self) -> dict[str, Any]:
        warm = self.warm
        return {
            "prefix": self.prefix,
            "seconds": self.seconds,
            "rate_per_s": self.rate,
            "accounts": self.accounts,
            "produced": self.produced,
            "achieved_rate_per_s": round(self.produced / self.seconds, 1),
            "lag_start": warm[0].lag,
            "lag_end": warm[-1].lag,
            "lag_max": max(s.lag for s in warm),
            "outputs_start": warm[0].outputs,
            "outputs_end": warm[-1].outputs,
            "rss_start_mb": warm[0].rss_mb,
            "rss_end_mb": warm[-1].rss_mb,
            "rss_max_mb": max(s.rss_mb for s in warm),
            "drain_s": round(self.drain_s, 1),
            "verified": None if self.report is None else self.report.ok,
        }

    def table(self) -> str:
        lines = [f"{'t s':>7}{'produced':>10}{'lag':>8}{'outputs':>9}{'rss MB':>9}  event clock"]
        lines += [
            f"{s.seconds:>7.0f}{s.produced:>10,}{s.lag:>8,}{s.outputs:>9,}{s.rss_mb:>9.1f}"
            f"  {s.event_clock or '-'}"
            for s in self.samples
        ]
        f = self.figures()
        lines += [
            "",
            f"soak {f['seconds']:.0f} s at {f['rate_per_s']:g} events/s "
            f"({f['produced']:,} events, {f['accounts']} accounts; topics {self.prefix}.*)",
            f"lag  start {f['lag_start']:,}  end {f['lag_end']:,}  max {f['lag_max']:,} messages",
            f"outputs  {f['outputs_start']:,} -> {f['outputs_end']:,} during the load",
            f"rss  start {f['rss_start_mb']:.1f}  end {f['rss_end_mb']:.1f}  "
            f"max {f['rss_max_mb']:.1f} MB (after {max(5.0, self.seconds / 10):.0f} s)",
            f"caught up {f['drain_s']} s after the load stopped",
        ]
        if self.report is not None:
            lines.append(self.report.summary())
        return "\n".join(lines)


def rss_mb(pid: int) -> float:
    """Resident memory of a process (VmRSS), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


async def soak(
    base: Settings,
    folder: Path,
    *,
    seconds: float,
    rate: float,
    accounts: int = 200,
    sample_every: float = 2.0,
    verify: bool = True,
) -> SoakResult:
    """Run the soak against the cluster in ``base`` (its bootstrap, Redis and partitions)."""
    prefix = f"soak-{uuid.uuid4().hex[:8]}"
    env = worker_env(base, prefix, folder, free_port())
    settings = settings_for(env)
    worker = WorkerProcess(env, folder / f"{prefix}.log")
    days = math.ceil(seconds * rate / (accounts * EVENTS_PER_ACCOUNT_DAY)) + 1
    config = SimulationConfig(accounts=accounts, days=days, segment_share=0.0)
    result = SoakResult(prefix, seconds=seconds, rate=rate, accounts=accounts)
    await create_catalogue(settings, prefix, settings.topic_partitions)
    if verify:
        await _create_changelog_uncompacted(settings)
    await asyncio.to_thread(worker.start)
    try:
        inputs = [topic_name(kind, prefix) for kind in INPUT_KINDS]
        async with ConsumerLag(settings.app_id, inputs, **client_kwargs(settings)) as lag:
            outputs = [topic_name(kind, prefix) for kind in OUTPUT_KINDS[:-1]]
            sampler = asyncio.create_task(_sample(result, worker, lag, outputs, sample_every))
            try:
                await _load(settings, config, result)
            finally:
                sampler.cancel()
        stopped = time.monotonic()
        await caught_up(settings, within=max(120.0, seconds), check=lambda: _alive(worker))
        result.drain_s = time.monotonic() - stopped
        if verify:
            result.report = await verify_deployment(settings)
    finally:
        worker.stop()
    return result


CHANGELOG_SEGMENT_BYTES = 1 << 30
"""The soak's state changelog rolls no segment, so compaction keeps every state the
worker wrote, and the verifier can look for every event in them (events lost)."""


async def _create_changelog_uncompacted(settings: Settings) -> None:
    """Create the worker's state changelog before faust does, as faust would (compacted),
    with segments too large to roll during the run."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings), request_timeout_ms=15000)
    await admin.start()
    try:
        topic = NewTopic(
            changelog_topic(settings.app_id),
            settings.topic_partitions,
            settings.topic_replication_factor,
            topic_configs={
                "cleanup.policy": "compact",
                "segment.bytes": str(CHANGELOG_SEGMENT_BYTES),
            },
        )
        await admin.create_topics([topic])
    finally:
        await admin.close()


async def _load(settings: Settings, config: SimulationConfig, result: SoakResult) -> None:
    """Produce the simulation at the fixed rate for the run's length, then one event per
    partition two days after the last, so every partition's event clock passes it."""
    prefix = settings.topic_prefix
    producer = AIOKafkaProducer(**client_kwargs(settings), acks="all", linger_ms=5)
    await producer.start()
    try:
        begin = time.monotonic()
        last_day = config.start
        for i, record in enumerate(Simulation(config).records()):
            due = i / result.rate
            if due >= result.seconds:
                break
            if begin + due > time.monotonic():
                await asyncio.sleep(begin + due - time.monotonic())
            await producer.send(topic_name(record.kind, prefix), record.value, record.key)
            result.produced += 1
            last_day = record.sent_at
        ending = dataclasses.replace(config, days=(last_day - config.start).days + 1)
        for key, value in closing_events(ending, settings.topic_partitions):
            await producer.send(topic_name(TopicKind.ACCOUNTS, prefix), value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


async def _sample(
    result: SoakResult,
    worker: WorkerProcess,
    lag: ConsumerLag,
    outputs: list[str],
    every: float,
) -> None:
    """Append a sample every ``every`` seconds until cancelled."""
    if worker.process is None:
        msg = "the worker is not running"
        raise RuntimeError(msg)
    pid = worker.process.pid
    begin = time.monotonic()
    while True:
        rss = round(rss_mb(pid), 1)
        behind = await lag.total()
        published = sum((await lag.end_offsets(outputs)).values())
        clock = await asyncio.to_thread(event_clock, worker)
        result.samples.append(
            Sample(time.monotonic() - begin, result.produced, behind, published, rss, clock)
        )
        await asyncio.sleep(every)


def event_clock(worker: WorkerProcess) -> str:
    """The lowest accounts-agent event clock the worker reports, ISO minutes; "" if none."""
    status, body = worker.get("/metrics")
    if status != 200:
        return ""
    clocks = [
        sample.value
        for family in text_string_to_metric_families(body.decode(errors="replace"))
        if family.name == "pulse_event_clock_timestamp_seconds"
        for sample in family.samples
        if sample.labels.get("agent") == "accounts"
    ]
    if not clocks or min(clocks) <= 0:
        return ""
    return datetime.fromtimestamp(min(clocks), UTC).strftime("%Y-%m-%dT%H:%M")


def _alive(worker: WorkerProcess) -> None:
    if worker.process is None or worker.process.poll() is not None:
        msg = f"the worker exited:\n{worker.tail()}"
        raise RuntimeError(msg)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--minutes", type=float, help="length of the load (default 10)")
    length.add_argument("--seconds", type=float, help="length of the load, in seconds")
    parser.add_argument("--rate", type=float, default=200.0, help="events per second")
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--sample-every", type=float, default=None, help="seconds")
    parser.add_argument("--no-verify", action="store_true", help="skip the replay check")
    parser.add_argument("--json", type=Path, default=Path("out/bench-soak.json"))
    args = parser.parse_args()
    seconds = args.seconds if args.seconds is not None else 60 * (args.minutes or 10)
    every = args.sample_every or max(2.0, seconds / 60)
    folder = Path(".pulse/bench")
    folder.mkdir(parents=True, exist_ok=True)
    result = asyncio.run(
        soak(
            load_settings(),
            folder,
            seconds=seconds,
            rate=args.rate,
            accounts=args.accounts,
            sample_every=every,
            verify=not args.no_verify,
        )
    )
    print(result.table())
    args.json.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "figures": result.figures(),
        "samples": [dataclasses.asdict(s) for s in result.samples],
    }
    args.json.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    if result.report is not None and not result.report.ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
