"""Run a peer job as a child process on a population and collect its figures."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench.population import Population, create_topic
from engine.settings import Settings

STALL_SECONDS = 180.0
QUICK_STALL_SECONDS = 45.0
START_ATTEMPTS = 3
"""A plain faust peer now and then never starts consuming (its consumer joins and then
sits, as faust's does at times; CI saw it in one run of a few, locally it reads its
first message within about 3 s). A peer that read nothing within the stall window
(STALL_SECONDS; QUICK_STALL_SECONDS for a quick run, whose peers start in seconds) is
started again on a fresh group, up to START_ATTEMPTS times; the result says so."""


class _StalledAtStart(RuntimeError):
    """The peer reported no input read at all within STALL_SECONDS."""


async def run_peer(
    module: str,
    name: str,
    settings: Settings,
    population: Population,
    *,
    folder: Path,
    say: Callable[[str], None],
    stall_seconds: float = STALL_SECONDS,
) -> dict[str, Any]:
    """``python -m module`` on the population (``folder`` exists); its ``done`` document.

    A peer silent for ``stall_seconds`` before its first input is started again."""
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            return await _run_once(
                module,
                name,
                settings,
                population,
                folder=folder,
                say=say,
                attempt=attempt,
                stall_seconds=stall_seconds,
            )
        except _StalledAtStart as exc:
            if attempt == START_ATTEMPTS:
                raise
            say(f"  {name}: {exc}; starting it again on a fresh group")
    raise AssertionError  # unreachable: the last attempt returns or raises


async def _run_once(
    module: str,
    name: str,
    settings: Settings,
    population: Population,
    *,
    folder: Path,
    say: Callable[[str], None],
    attempt: int,
    stall_seconds: float,
) -> dict[str, Any]:
    suffix = "" if attempt == 1 else f"-{attempt}"
    group = f"{population.prefix}-peer-{name}{suffix}"
    output = f"{population.prefix}.peer-{name}{suffix}.triggers.v1"
    folder = folder / f"attempt-{attempt}" if attempt > 1 else folder
    folder.mkdir(parents=True, exist_ok=True)
    await create_topic(settings, output, settings.topic_partitions)
    args = [
        sys.executable,
        "-m",
        module,
        "--bootstrap",
        settings.kafka_bootstrap,
        "--output",
        output,
        "--group",
        group,
        "--state-dir",
        str(folder / "state"),
        "--partitions",
        str(settings.topic_partitions),
        "--expect",
        str(population.events),
    ]
    for kind, topic in population.topics.items():
        args += ["--input", f"{kind}={topic}"]
    log = folder / "peer.log"
    with log.open("wb") as errors:
        process = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=errors, start_new_session=True
        )
        try:
            document = await _follow(
                process, name, population.events, log, say, stall_seconds=stall_seconds
            )
            if attempt > 1:
                document["started_on_attempt"] = attempt
            return document
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(process.wait(), 60)
                except TimeoutError:
                    process.kill()
                    await process.wait()


async def _follow(
    process: asyncio.subprocess.Process,
    name: str,
    expect: int,
    log: Path,
    say: Callable[[str], None],
    *,
    stall_seconds: float,
) -> dict[str, Any]:
    assert process.stdout is not None  # noqa: S101 - piped above
    last_said = time.monotonic()
    progress = 0
    while True:
        try:
            line = await asyncio.wait_for(process.stdout.readline(), stall_seconds)
        except TimeoutError:
            if not progress:
                msg = f"peer {name} read nothing in {stall_seconds:.0f} s; its log ends:\n"
                raise _StalledAtStart(msg + _tail(log, 8)) from None
            msg = f"peer {name} reported nothing for {stall_seconds:.0f} s:\n{_tail(log)}"
            raise RuntimeError(msg) from None
        if not line:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 10)
            msg = f"peer {name} exited ({process.returncode}) before it was done:\n{_tail(log)}"
            raise RuntimeError(msg)
        try:
            document = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # faust writes terminal control codes to the real stdout
        if not isinstance(document, dict):
            continue
        if document.get("done"):
            events, seconds = document["events"], document["seconds"]
            document["events_per_s"] = round(events / seconds) if seconds > 0 else None
            del document["done"]
            return document
        progress = max(progress, int(document.get("progress", 0) or 0))
        if time.monotonic() - last_said >= 5:
            last_said = time.monotonic()
            say(f"  {name}: {document.get('progress', 0):,} / {expect:,} input events")


def _tail(log: Path, lines: int = 40) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])
