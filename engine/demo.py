"""`pulse demo`: a simulated quarter streamed through a live worker, then scored.

Starts workers on the event-time clock (one per core; a quarter runs in minutes),
produces the simulated customer base onto fresh topics, shows progress and
triggers as they arrive, and ends with the evaluation report and three
triggers explained in full. Everything it writes goes under .pulse/demo/RUN.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from engine.evaluation import render, score
from engine.kafka import client_kwargs
from engine.process import WorkerProcess
from engine.routing import partition_for
from engine.settings import Settings, load_settings
from engine.simulator import CORE_FEATURES
from engine.simulator.generator import Record, Simulation, SimulationConfig
from engine.simulator.writers import produce, write_replay
from engine.tail import render as render_trigger
from engine.tail import render_cancellation
from topics.catalogue import TopicKind, topic_name
from topics.codec import decode_output, encode
from topics.models import AccountProfile, Cancellation, Trigger

TRIGGER_KINDS = (TopicKind.CHURN_RISK, TopicKind.EXPANSION, TopicKind.ADVOCACY)


@dataclass
class LiveState:
    """What the live view shows; updated by the producer and the trigger reader."""

    total: int
    produced: int = 0
    triggers: list[Trigger] = field(default_factory=list)
    by_rule: Counter[str] = field(default_factory=Counter)
    latest: deque[Trigger] = field(default_factory=lambda: deque(maxlen=5))
    cancellations: list[Cancellation] = field(default_factory=list)
    """The outcomes topic: each cancellation's record, with the alerts before it."""
    simulated: str = ""
    last_trigger_at: float = field(default_factory=time.monotonic)


def closing_events(config: SimulationConfig, partitions: int) -> list[tuple[bytes, bytes]]:
    """One event per partition two days after the quarter, so every partition's event
    clock passes its end and the last days' absence and calendar rules are evaluated."""
    return clock_events(config.start + timedelta(days=config.days + 2), partitions)


def clock_events(at: datetime, partitions: int, tag: str = "end") -> list[tuple[bytes, bytes]]:
    """(key, value) of one account profile per partition at ``at``, on accounts of their
    own: on the event clock, each carries its partition's clock to ``at``."""
    events = []
    for partition in range(partitions):
        account = next(
            f"pulse-demo-clock-{i}"
            for i in range(10_000)
            if partition_for(f"pulse-demo-clock-{i}".encode(), partitions) == partition
        )
        profile = AccountProfile(event_id=f"{account}-{tag}", occurred_at=at, account_id=account)
        events.append((account.encode(), encode(profile)))
    return events


async def read_triggers(settings: Settings, prefix: str, live: LiveState) -> None:
    topics = {topic_name(kind, prefix): kind for kind in (*TRIGGER_KINDS, TopicKind.OUTCOMES)}
    consumer = AIOKafkaConsumer(
        *topics, **client_kwargs(settings), group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    trigger = decode_output(topics[record.topic], record.value or b"")
                    if isinstance(trigger, Cancellation):
                        live.cancellations.append(trigger)
                    elif isinstance(trigger, Trigger):
                        live.triggers.append(trigger)
                        live.by_rule[trigger.rule_id] += 1
                        live.latest.append(trigger)
                        live.last_trigger_at = time.monotonic()
    finally:
        await consumer.stop()


def draw(live: LiveState, rate: float, started: float, tty: bool) -> None:
    elapsed = time.monotonic() - started
    head = (
        f"pulse demo  {elapsed:5.0f}s  produced {live.produced:,}  "
        f"worker {rate:,.0f} events/s  simulated {live.simulated}  triggers {len(live.triggers):,}"
    )
    if not tty:
        print(head, flush=True)
        return
    lines = [head, "", "triggers per rule:"]
    lines += [f"  {rule:<28}{count:>6,}" for rule, count in live.by_rule.most_common(10)]
    lines += ["", "latest:"]
    lines += [
        f"  {t.fired_at:%Y-%m-%d} {t.account_id:<12} {t.rule_id:<24} {t.explanation}"[:160]
        for t in reversed(live.latest)
    ]
    sys.stdout.write("\x1b[2J\x1b[H" + "\n".join(lines) + "\n")
    sys.stdout.flush()


def worker_env(
    base: Settings, prefix: str, folder: Path, port: int, index: int = 0
) -> dict[str, str]:
    """A demo worker's settings: fresh topics, event clock, in-memory state."""
    signals_config = folder / "signals.yaml"
    signals_config.write_text("usage:\n  core_features: [" + ", ".join(CORE_FEATURES) + "]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    env.update(
        PULSE_KAFKA_BOOTSTRAP=base.kafka_bootstrap,
        PULSE_REDIS_URL=base.redis_url.get_secret_value(),
        PULSE_TOPIC_PREFIX=prefix,
        PULSE_REDIS_PREFIX=prefix,
        PULSE_APP_ID=f"pulse-{prefix}",
        PULSE_TOPIC_PARTITIONS=str(base.topic_partitions),
        PULSE_STORE="memory://",
        PULSE_CLOCK="event",
        PULSE_TABLE_STANDBY_REPLICAS="0",
        PULSE_DATA_DIR=str(folder / f"worker-{index}"),
        PULSE_WEB_PORT=str(port),
        PULSE_SIGNALS_CONFIG_FILE=str(signals_config),
    )
    return env


async def watch(
    workers: list[WorkerProcess],
    producing: asyncio.Task[None],
    live: LiveState,
    args: argparse.Namespace,
) -> bool:
    """Redraw until the worker has consumed everything and triggers stopped coming."""
    tty = sys.stdout.isatty()
    started = last_time = time.monotonic()
    last_events = 0.0
    caught_up_since: float | None = None
    while time.monotonic() - started < args.timeout:
        await asyncio.sleep(1.0 if tty else 5.0)
        received = sum(worker.events_received() for worker in workers)
        now = time.monotonic()
        rate = (received - last_events) / max(now - last_time, 1e-9)
        last_events, last_time = received, now
        draw(live, rate, started, tty)
        if not producing.done():
            continue
        producing.result()
        if live.total and received >= live.total and now - live.last_trigger_at > args.settle:
            caught_up_since = caught_up_since or now
            if now - caught_up_since > args.settle:
                return True
    return False


def write_events(simulation: Simulation, path: Path) -> None:
    """The events the demo produced, as `pulse simulate --out` writes them, for `--events`.

    A fresh simulation of the same config: records are the same bytes, and the one that
    fed the live run has been consumed."""
    with path.open("wb") as out:
        write_replay(Simulation(simulation.config).records(), out)


def outcomes_summary(records: list[Cancellation]) -> str:
    """The cancellation records in a few lines: how many Pulse warned of, how early."""
    paid = [r for r in records if not r.trial]
    warned = [r for r in paid if r.prior_alerts]
    horizon = records[0].horizon_days if records else 0
    lines = [
        f"{len(records):,} cancellations published: {len(paid):,} paid, "
        f"{len(records) - len(paid):,} trial lapses; {len(warned):,} of the paid had a "
        f"churn-risk alert in the {horizon} days before they ended"
    ]
    if warned:
        leads = sorted((r.cancelled_at - r.prior_alerts[0].fired_at).days for r in warned)
        lines.append(f"  days from the first alert to the end: median {leads[len(leads) // 2]}")
        example = max(warned, key=lambda r: r.mrr or 0.0)
        lines += ["", render_cancellation(example)]
    return "\n".join(lines)


def report(
    live: LiveState,
    folder: Path,
    args: argparse.Namespace,
    workers: list[WorkerProcess],
    simulation: Simulation,
) -> None:
    triggers_path, truth_path = folder / "triggers.jsonl", folder / "truth.json"
    events_path = folder / "events.jsonl"
    triggers_path.write_bytes(b"".join(encode(t) + b"\n" for t in live.triggers))
    print(f"\npulse demo: {live.total:,} events -> {len(live.triggers):,} triggers")
    print(f"pulse demo: writing the events to {events_path} for the evaluation")
    write_events(simulation, events_path)
    print("pulse demo: scoring the triggers and a baseline against the events' outcomes")
    print("\n== Evaluation (pulse evaluate) ==\n")
    print(render(score(live.triggers, events=events_path, truth=truth_path)))
    print("\n== Three triggers explained ==\n")
    for kind in ("churn_risk", "expansion", "advocacy"):
        example = next((t for t in live.triggers if t.kind == kind and t.revision_of is None), None)
        if example is not None:
            print(render_trigger(example) + "\n")
    (folder / "outcomes.jsonl").write_bytes(b"".join(encode(c) + b"\n" for c in live.cancellations))
    print("== Outcomes published (the outcomes topic) ==\n")
    print(outcomes_summary(live.cancellations) + "\n")
    print("== Where to look next ==")
    print(
        f"  files: {folder} (events.jsonl, triggers.jsonl, outcomes.jsonl, truth.json, "
        "worker-N.log)"
    )
    print(
        f"  evaluate again: pulse evaluate --triggers {triggers_path} --events {events_path} "
        f"--truth {truth_path}"
    )
    worker = workers[0]
    if args.keep_worker and worker.process is not None:
        port = args.port
        pids = " ".join(str(w.process.pid) for w in workers if w.process is not None)
        account = live.triggers[0].account_id if live.triggers else "acct-00000"
        print(f"  the workers are still running (pids {pids}); stop them with: kill {pids}")
        print(f"  account view:  curl http://127.0.0.1:{port}/accounts/{account}")
        print(f"  worst first:   curl 'http://127.0.0.1:{port}/accounts?band=red&limit=10'")
        print(f"  metrics:       curl http://127.0.0.1:{port}/metrics")
        prefix = worker.env["PULSE_TOPIC_PREFIX"]
        print(f"  live triggers: PULSE_TOPIC_PREFIX={prefix} pulse tail --from-beginning")


async def run(args: argparse.Namespace) -> int:
    base = load_settings()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = Path(args.dir) / stamp
    folder.mkdir(parents=True, exist_ok=True)
    prefix = f"demo-{stamp}"
    simulation = Simulation(
        SimulationConfig(accounts=args.accounts, days=args.days, seed=args.seed)
    )
    (folder / "truth.json").write_bytes(
        orjson.dumps(simulation.truth_document(), option=orjson.OPT_UTC_Z)
    )
    settings = base.model_copy(update={"topic_prefix": prefix})
    print(
        f"pulse demo: {args.accounts:,} accounts over {args.days} simulated days (seed {args.seed})"
    )
    count = args.workers or min(os.cpu_count() or 1, base.topic_partitions)
    print(
        f"pulse demo: starting {count} worker{'s' if count > 1 else ''} on the event-time "
        f"clock, one per core, sharing {base.topic_partitions} partitions (logs {folder})"
    )
    workers = [
        WorkerProcess(
            worker_env(base, prefix, folder, args.port + i, i), folder / f"worker-{i}.log"
        )
        for i in range(count)
    ]
    for worker in workers:  # one at a time: each joins the group once the last is ready
        worker.start()
    live = LiveState(total=0)
    reader = asyncio.create_task(read_triggers(settings, prefix, live))
    try:
        producing = asyncio.create_task(produce_all(simulation, settings, prefix, live))
        finished = await watch(workers, producing, live, args)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        if not args.keep_worker:
            for worker in workers:
                worker.stop()
    if not finished:
        print("pulse demo: timed out waiting for the worker to catch up", file=sys.stderr)
        return 1
    report(live, folder, args, workers, simulation)
    return 0


async def produce_all(
    simulation: Simulation, settings: Settings, prefix: str, live: LiveState
) -> None:
    def counted() -> Iterator[Record]:
        for record in simulation.records():
            live.produced += 1
            live.simulated = f"{record.sent_at:%Y-%m-%d}"
            yield record

    await produce(counted(), settings, prefix)
    producer = AIOKafkaProducer(**client_kwargs(settings), acks="all")
    await producer.start()
    try:
        for key, value in closing_events(simulation.config, settings.topic_partitions):
            await producer.send_and_wait(topic_name(TopicKind.ACCOUNTS, prefix), value, key=key)
    finally:
        await producer.stop()
    live.total = live.produced + settings.topic_partitions


def _command(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(run(args))
    except RuntimeError as exc:
        print(f"pulse demo: error: {exc}", file=sys.stderr)
        return 1


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("demo", help="stream a simulated quarter through a live worker")
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="worker processes (default: one per core, at most one per partition; a worker "
        "is one Python process, so it uses one core)",
    )
    parser.add_argument(
        "--port", type=int, default=6066, help="the first worker's HTTP port (then +1, +2...)"
    )
    parser.add_argument("--dir", default=".pulse/demo", help="where runs are written")
    parser.add_argument("--settle", type=float, default=5.0, help="quiet seconds that end it")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument(
        "--keep-worker", action="store_true", help="leave the worker running to explore"
    )
    parser.set_defaults(func=_command)
