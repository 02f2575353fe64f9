"""The benchmark suite of issue 8: ``make bench`` / ``python -m bench [--quick]``.

On the local stack, one simulated population (every stream and shape the simulator
makes, with its late, duplicate and malformed messages) is produced once to topics
of its own, and the same events are then read by:

1. a raw aiokafka consumer (the ceiling);
2. the pure core, no Kafka, one core (decode, validation, signals), and `pulse replay`
   of the same events on one core and on every core (bench/replay.py);
3. one Pulse worker, end to end, with the Redis view on;
4. the same per-account job in Quix Streams and as straightforward faust code
   (bench/peers/);

then 5. latency at half the worker's measured rate, 6. state bytes per account and
worker RSS at two population sizes (lighter populations: a few events per account),
and 7. restart-to-ready with N accounts of state, with the local store kept and
deleted. Prints a table with each target and ratio, writes JSON (``--out``), and
deletes every topic, consumer group and Redis key it made (``--keep`` keeps them).
Exit status 1 when a section failed (its error is in the JSON and the table).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import shutil
import sys
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from bench import ceiling, pulse, purecore, replay
from bench.peers.run import QUICK_STALL_SECONDS, STALL_SECONDS, run_peer
from bench.population import (
    Population,
    account_index,
    cleanup,
    light,
    prepare,
    publish,
    recent,
    simulated,
)
from bench.report import render, rows
from engine.settings import Settings, load_settings
from engine.simulator.generator import Record, SimulationConfig

SECTIONS = ("ceiling", "core", "replay", "pulse", "scale", "peers", "latency", "memory", "recovery")
LIGHT_EVENTS_PER_ACCOUNT = 4
LATENCY_PROBE_SHARE = 1 / 20
EVENTS_PER_ACCOUNT_DAY = 4.5
"""Roughly what the simulator makes; sizes the latency run's background population."""


class Phases:
    """Prints one line per phase (and progress within it) with the suite's elapsed time."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def say(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:7.1f}s] {message}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="small smoke run (CI)")
    parser.add_argument("--accounts", type=int, help="population accounts (1000; quick 20)")
    parser.add_argument("--days", type=int, help="simulated days (30; quick 10)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--partitions", type=int, help="partitions per topic (PULSE_TOPIC_PARTITIONS; quick 2)"
    )
    parser.add_argument(
        "--memory-accounts",
        help="comma-separated sizes for RSS; the last is also the recovery size "
        "(10000,100000; quick 100,500)",
    )
    parser.add_argument(
        "--latency-seconds", type=float, help="length of the latency run (30; quick 4)"
    )
    parser.add_argument(
        "--latency-rate",
        type=float,
        help="events/s of the latency run (half the worker's measured rate; 50 without one)",
    )
    parser.add_argument("--out", type=Path, default=Path("out/bench.json"))
    parser.add_argument("--dir", type=Path, default=Path(".pulse/bench"), help="work folder")
    parser.add_argument(
        "--skip", default="", help=f"comma-separated sections to leave out: {','.join(SECTIONS)}"
    )
    parser.add_argument("--keep", action="store_true", help="keep topics, groups, data")
    args = parser.parse_args(argv)
    quick = args.quick
    args.accounts = args.accounts or (20 if quick else 1000)
    args.days = args.days or (10 if quick else 30)
    sizes = args.memory_accounts or ("100,500" if quick else "10000,100000")
    args.memory_accounts = [int(size) for size in sizes.split(",") if size.strip()]
    args.latency_seconds = args.latency_seconds or (4.0 if quick else 30.0)
    if args.partitions is None and quick:
        args.partitions = 2  # Quix Streams and faust start slower with every partition
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = args.skip - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections in --skip: {', '.join(sorted(unknown))}")
    return args


class Suite:
    def __init__(self, args: argparse.Namespace, settings: Settings) -> None:
        self.args = args
        self.settings = settings
        self.run_id = uuid.uuid4().hex[:8]
        self.prefix = f"bench-{self.run_id}"
        self.folder = args.dir / self.run_id
        self.phases = Phases()
        self.say = self.phases.say
        self.notes: list[str] = []
        self.results: dict[str, Any] = {"errors": {}}

    async def section(self, name: str, body: Callable[[], Awaitable[Any]]) -> None:
        """Run one section; a failure is recorded (and the rest goes on)."""
        if name in self.args.skip:
            self.say(f"{name}: skipped (--skip)")
            return
        self.say(f"{name}: start")
        began = time.monotonic()
        try:
            self.results[name] = await body()
        except Exception as exc:  # noqa: BLE001 - reported in the table and the JSON
            self.results["errors"][name] = f"{exc}\n{traceback.format_exc()}"
            self.say(f"{name}: FAILED after {time.monotonic() - began:.1f} s: {exc}")
            return
        self.say(f"{name}: done in {time.monotonic() - began:.1f} s")

    async def run(self) -> dict[str, Any]:
        args = self.args
        self.say(
            f"run {self.run_id}: topics {self.prefix}.*, work folder {self.folder}, "
            f"{os.cpu_count()} cores"
        )
        population: Population | None = None
        try:
            config = SimulationConfig(accounts=args.accounts, days=args.days, seed=args.seed)
            self.say(f"population: simulating {args.accounts:,} accounts x {args.days} days")
            records = list(simulated(config))
            self.say(f"population: producing {len(records):,} events to {self.prefix}.*")
            population = await publish(
                self.settings,
                self.prefix,
                records,
                accounts=args.accounts,
                days=args.days,
                closing=config,
            )
            self.say(f"population: {population.events:,} events in {population.produce_s:.1f} s")
            await self._sections(population, records)
        finally:
            if not args.keep:
                self.say("cleanup: deleting the run's topics, consumer groups and Redis keys")
                removed = await cleanup(self.settings, self.run_id)
                shutil.rmtree(self.folder, ignore_errors=True)
                self.say(f"cleanup: {removed}")
        self.results["meta"] = self._meta(population)
        return self.results

    async def _sections(self, population: Population, records: list[Record]) -> None:
        settings, folder = self.settings, self.folder
        await self.section("ceiling", lambda: ceiling.raw_consumer(settings, population))
        await self.section("core", lambda: asyncio.to_thread(self._core, records))
        await self.section("replay", lambda: asyncio.to_thread(self._replay, records))
        await self.section(
            "pulse", lambda: pulse.throughput(settings, population, folder / "e2e", self.say)
        )
        await self.section(
            "scale", lambda: pulse.scale_out(settings, population, folder / "scale", self.say)
        )
        await self.section("peers", lambda: self._peers(population))
        await self.section("latency", self._latency)
        await self.section("memory", self._memory)
        if "memory" not in self.args.skip:
            recovery = self.results.get("memory", {}).pop("recovery", None)
            if recovery is not None:
                self.results["recovery"] = recovery
            elif "recovery" not in self.results["errors"] and "recovery" not in self.args.skip:
                self.results["errors"]["recovery"] = "the memory section did not get that far"

    def _core(self, records: list[Record]) -> dict[str, Any]:
        result = purecore.core_on(records)
        self.say(f"  core: {result['events_per_s']:,} events/s; one typical account (bench.core)")
        result["typical_account"] = purecore.typical_account(repeat=1 if self.args.quick else 3)
        return result

    async def _peers(self, population: Population) -> dict[str, Any]:
        peers: dict[str, Any] = {}
        for name, module in (("quix", "bench.peers.quix_job"), ("faust", "bench.peers.faust_job")):
            self.say(f"  peer {name}: {module}")
            folder = self.folder / f"peer-{name}"
            folder.mkdir(parents=True, exist_ok=True)
            peers[name] = await run_peer(
                module,
                name,
                self.settings,
                population,
                folder=folder,
                say=self.say,
                stall_seconds=QUICK_STALL_SECONDS if self.args.quick else STALL_SECONDS,
            )
            self.say(f"  peer {name}: {peers[name]['events_per_s']:,} events/s")
        return peers

    async def _latency(self) -> dict[str, Any]:
        measured = self.results.get("pulse", {}).get("events_per_s")
        if self.args.latency_rate:
            rate = self.args.latency_rate
        elif measured:
            rate = measured / 2
        else:
            rate = 50.0
            self.notes.append("latency: no worker rate was measured; ran at 50 events/s")
        seconds = self.args.latency_seconds
        needed = rate * seconds * (1 - LATENCY_PROBE_SHARE)
        accounts = max(20, int(needed / EVENTS_PER_ACCOUNT_DAY * 1.3))
        self.say(f"  latency: {accounts:,} accounts' last day as load, {rate:,.0f}/s")
        records = await asyncio.to_thread(recent, accounts, 2)
        today = max(r.sent_at for r in records) - timedelta(days=1)
        warm = [r for r in records if r.sent_at < today]
        background = [r for r in records if r.sent_at >= today]
        prefix = f"{self.prefix}-lat"
        await prepare(self.settings, prefix)
        return await pulse.latency(
            self.settings,
            prefix,
            warm,
            background,
            rate=rate,
            seconds=seconds,
            folder=self.folder / "latency",
            say=self.say,
        )

    async def _memory(self) -> dict[str, Any]:
        sizes = sorted(self.args.memory_accounts)
        self.say(f"  memory: simulating a light population of {sizes[-1]:,} accounts")
        records = await asyncio.to_thread(lambda: list(light(sizes[-1], LIGHT_EVENTS_PER_ACCOUNT)))
        steps, low = [], 0
        for size in sizes:
            steps.append((size, [r for r in records if low <= account_index(r) < size]))
            low = size
        result = await pulse.memory_and_recovery(
            self.settings, f"{self.prefix}-mem", steps, self.folder / "memory", self.say
        )
        self.notes.append(
            "memory and recovery: light population (each account's first simulated day, "
            f"at most {LIGHT_EVENTS_PER_ACCOUNT} account-keyed events per account), one "
            "worker growing through the sizes; state bytes per account come from the "
            "main population"
        )
        return {
            "state_bytes": self.results.get("core", {}).get("state_bytes"),
            "rss": result["rss"],
            "recovery": result["recovery"],
        }

    def _replay(self, records: list[Record]) -> dict[str, Any]:
        """The population replayed on one core and on every core; then a year of it."""
        folder = self.folder / "replay"
        result = replay.replay_rates(records, folder, self.say)
        config = SimulationConfig(accounts=self.args.accounts, days=1, seed=self.args.seed)
        result["year"] = replay.year_replay(config, folder, self.say)
        return result

    def _meta(self, population: Population | None) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "quick": self.args.quick,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(time.monotonic() - self.phases.started, 1),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "partitions": self.settings.topic_partitions,
            "population": population.summary() if population else None,
            "notes": [
                "throughput: Pulse from /readyz to its last message, the ceiling from its "
                "seek to its last, the peers from their first message to their last",
                "peers: Quix Streams and faust keep state in RocksDB with changelogs, as the "
                "Pulse worker does (PULSE_STORE=rocksdb://, event clock)",
                *self.notes,
            ],
        }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # aiokafka warns on retried sends to new topics
    settings = load_settings()
    if args.partitions:
        settings = settings.model_copy(update={"topic_partitions": args.partitions})
    suite = Suite(args, settings)
    results = asyncio.run(suite.run())
    table = rows(results)
    results["targets"] = [row.as_json() for row in table]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print()
    print(render(results, table))
    print(f"\nJSON: {args.out}")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
