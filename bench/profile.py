"""Where a process spends its time, from a py-spy profile: `python -m bench.profile FILE`.

Record one with py-spy (not a dependency of Pulse: ``pip install py-spy``), for example
the worker section of the suite, which runs the worker as a child process::

    py-spy record --subprocesses --format raw --rate 200 -o worker.txt -- \\
        python -m bench --skip ceiling,core,replay,scale,peers,latency,memory,recovery
    python -m bench.profile worker.txt --process "engine.cli worker"

Each sample goes to the innermost frame of Pulse's own code on its stack (its area:
the signals core, the topics codec, the engine's runtime or transport), or, when
Pulse's code only waits on a library there (faust's stream, aiokafka's fetcher), to
that library. The table says what share of the samples each area holds, and which of
Pulse's functions take the most time including what they call.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

_OWN = re.compile(r"\((?:.*/)?(engine|signals|topics|bench)/([\w/]+)\.py:\d+\)")
_LIBRARY = re.compile(
    r"\((?:.*/)?(?:(faust|mode|aiokafka|kafka|pydantic|pydantic_core|rocksdict|redis"
    r"|prometheus_client|asyncio|concurrent)/|(orjson|selectors|threading)\.)"
)
"""A library's frame: a file in its package folder (faust's ``transport/drivers/
aiokafka.py`` is faust's), or its module (``threading.py``)."""
_ENTRY = {"engine/cli", "engine/run", "engine/worker", "engine/replay_cli", "bench/__main__"}
"""Modules every sample of a process passes through: the owner only where nothing
deeper in Pulse's code (or in a library) is on the stack."""
_LIBRARY_AREA = {"mode": "faust", "kafka": "aiokafka", "pydantic_core": "pydantic"}
_GENERIC = {"asyncio", "concurrent", "selectors", "threading"}
"""Libraries every other one runs on: named only where no other library is on the stack."""


MINOR = 0.005
"""Areas below this share of the samples are summed in one line (imports, start-up)."""


@dataclass
class Profile:
    """Samples by area (innermost own code, else library) and by own function."""

    samples: int = 0
    areas: Counter[str] = field(default_factory=Counter)
    functions: Counter[str] = field(default_factory=Counter)


def _own(frame: str) -> re.Match[str] | None:
    """Pulse's own module in a frame, if it is one (an installed package's ``topics/``,
    such as Quix Streams', is not)."""
    return None if "site-packages" in frame else _OWN.search(frame)


def area_of(module: str) -> str:
    """The area of one of Pulse's modules: the engine's by package or module
    (``engine/runtime/store`` -> engine.runtime), the others by package."""
    parts = module.split("/")
    return f"engine.{parts[1]}" if parts[0] == "engine" else parts[0]


def summarise(lines: Iterable[str], process: str | None = None) -> Profile:
    """Fold py-spy's raw lines (``frame;frame;... count``) into a Profile; with
    ``process``, only the stacks of processes whose command line contains it."""
    profile = Profile()
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if process is not None and not any(
            f.startswith("process ") and process in f for f in frames[:3]
        ):
            continue
        n = int(count)
        profile.samples += n
        profile.areas[_owner(frames)] += n
        seen: set[str] = set()
        for frame in frames:
            own = _own(frame)
            if own is None:
                continue
            name = f"{frame.split(' (', 1)[0]} ({own.group(1)}/{own.group(2)})"
            if name not in seen:
                seen.add(name)
                profile.functions[name] += n
    return profile


def _owner(frames: list[str]) -> str:
    """The innermost own frame's area, with what it calls; where only entry modules
    of ours are on the stack, the innermost library below them (its machinery)."""
    owner: str | None = None
    library: str | None = None
    for frame in frames:
        own = _own(frame)
        if own is not None:
            module = f"{own.group(1)}/{own.group(2)}"
            if module not in _ENTRY:
                owner = area_of(module)
            continue
        lib = _LIBRARY.search(frame)
        if lib is not None:
            found = lib.group(1) or lib.group(2)
            name = _LIBRARY_AREA.get(found, found)
            if library is None or library in _GENERIC or name not in _GENERIC:
                library = name
    if owner is None:
        return f"library: {library or 'other'}"
    return owner


def render(profile: Profile, top: int) -> str:
    total = max(profile.samples, 1)
    lines = [f"{profile.samples:,} samples", "", "where (innermost own code, else library)"]
    shown = [(area, n) for area, n in profile.areas.most_common() if n / total >= MINOR]
    rest = profile.samples - sum(n for _, n in shown)
    lines += [f"  {n / total:6.1%}  {area}" for area, n in shown]
    if rest:
        lines.append(f"  {rest / total:6.1%}  (each area under {MINOR:.1%})")
    lines += ["", f"own functions, including what they call (top {top})"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in profile.functions.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("file", type=Path, help="py-spy record --format raw output")
    parser.add_argument("--process", help="only processes whose command line contains this")
    parser.add_argument("--top", type=int, default=25, help="own functions to list")
    args = parser.parse_args(argv)
    with args.file.open() as lines:
        profile = summarise(lines, args.process)
    if not profile.samples:
        parser.error(
            f"no samples in {args.file}" + (f" for {args.process!r}" if args.process else "")
        )
    print(render(profile, args.top))


if __name__ == "__main__":
    main()
