"""`pulse replay` on the population, as a user runs it: one process, then every core.

The population is written as a replay file and replayed by the command line (external
sort, decode, signals, triggers written), once with ``--processes 1`` and once with
this machine's cores. Each run's wall time (start-up included, about a second) and the
peak of the summed RSS of its process tree (the command and its forked replays; pages
the forks share are counted in each) are measured from outside, by polling ``/proc``;
the two runs' trigger files must be identical, or the section fails.

Then a year of the same accounts, simulated straight to a file, is replayed on every
core: the size issue 20's memory target names (a year of 1,000 accounts in 1 GiB), so
the figure printed beside that target is measured at it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.pulse import rss_bytes
from engine.forked import available_cores
from engine.simulator.generator import Record, Simulation, SimulationConfig
from engine.simulator.writers import write_replay

POLL_SECONDS = 0.1
YEAR_DAYS = 365


def replay_rates(records: list[Record], folder: Path, say: Callable[[str], None]) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    events = folder / "events.jsonl"
    with events.open("wb") as out:
        written = write_replay(records, out)
    cores = available_cores()
    runs: dict[str, Any] = {"events": written, "cores": cores}
    outputs = []
    for processes in sorted({1, cores}):
        triggers = folder / f"triggers-{processes}.jsonl"
        wall_s, peak = _run(events, triggers, processes)
        rate = round(written / wall_s)
        say(
            f"  replay: {processes} process(es): {wall_s:.1f} s, {rate:,} events/s, "
            f"peak RSS {peak / 2**20:,.0f} MiB"
        )
        runs[f"processes_{processes}"] = {
            "processes": processes,
            "wall_s": round(wall_s, 2),
            "events_per_s": rate,
            "peak_rss_bytes": peak,
        }
        outputs.append(triggers.read_bytes())
    if any(output != outputs[0] for output in outputs):
        msg = "pulse replay gave different triggers with different numbers of processes"
        raise RuntimeError(msg)
    runs["triggers"] = outputs[0].count(b"\n")
    return runs


def year_replay(
    config: SimulationConfig, folder: Path, say: Callable[[str], None]
) -> dict[str, Any]:
    """`pulse replay` on every core of a year of ``config``'s accounts: rate and peak RSS."""
    config = SimulationConfig(accounts=config.accounts, days=YEAR_DAYS, seed=config.seed)
    folder.mkdir(parents=True, exist_ok=True)
    events = folder / "year.jsonl"
    say(f"  replay: simulating a year of {config.accounts:,} accounts to a file")
    with events.open("wb") as out:
        written = write_replay(Simulation(config).records(), out)
    cores = available_cores()
    try:
        wall_s, peak = _run(events, folder / "year-triggers.jsonl", cores)
    finally:
        events.unlink()
    rate = round(written / wall_s)
    say(
        f"  replay: a year, {written:,} events, {cores} process(es): {wall_s:.1f} s, "
        f"{rate:,} events/s, peak RSS {peak / 2**20:,.0f} MiB"
    )
    return {
        "accounts": config.accounts,
        "days": YEAR_DAYS,
        "events": written,
        "processes": cores,
        "wall_s": round(wall_s, 2),
        "events_per_s": rate,
        "peak_rss_bytes": peak,
    }


def _run(events: Path, triggers: Path, processes: int) -> tuple[float, int]:
    """Wall seconds of one `pulse replay`, and its process tree's peak summed RSS."""
    command = [sys.executable, "-m", "engine.cli", "replay", str(events), "--no-progress"]
    command += ["--processes", str(processes), "--out", str(triggers)]
    log = triggers.with_suffix(".log")
    started = time.monotonic()
    with log.open("wb") as errors:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)  # noqa: S603
        peak = 0
        while process.poll() is None:
            peak = max(peak, sum(_rss(pid) for pid in _tree(process.pid)))
            time.sleep(POLL_SECONDS)
    wall_s = time.monotonic() - started
    if process.returncode != 0:
        msg = f"pulse replay exited {process.returncode}: {log.read_text()[-2000:]}"
        raise RuntimeError(msg)
    return wall_s, peak


def _rss(pid: int) -> int:
    try:
        return rss_bytes(pid)["rss_bytes"]
    except OSError:  # ended between listing and reading
        return 0


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from ``/proc`` (those that ended meanwhile left out)."""
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return pids
    for child in children:
        pids += _tree(int(child))
    return pids
