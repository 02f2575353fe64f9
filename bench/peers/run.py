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


async def run_peer(
    module: str,
    name: str,
    settings: Settings,
    population: Population,
    *,
    folder: Path,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """``python -m module`` on the population (``folder`` exists); its ``done`` document."""
    group = f"{population.prefix}-peer-{name}"
    output = f"{population.prefix}.peer-{name}.triggers.v1"
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
            return await _follow(process, name, population.events, log, say)
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
) -> dict[str, Any]:
    assert process.stdout is not None  # noqa: S101 - piped above
    last_said = time.monotonic()
    while True:
        try:
            line = await asyncio.wait_for(process.stdout.readline(), STALL_SECONDS)
        except TimeoutError:
            tail = _tail(log)
            msg = f"peer {name} reported nothing for {STALL_SECONDS:.0f} s:\n{tail}"
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
        if time.monotonic() - last_said >= 5:
            last_said = time.monotonic()
            say(f"  {name}: {document.get('progress', 0):,} / {expect:,} input events")


def _tail(log: Path, lines: int = 40) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])
