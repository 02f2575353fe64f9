"""A replay-format events file in event-time order, in bounded memory (an external sort).

`pulse replay`, `pulse tune` and `pulse evaluate` read files of ``{"topic": ...,
"value": ...}`` lines, a year of history at a time. Holding every decoded event to sort
it took gigabytes, so the file is read once in chunks: each chunk's events are decoded
(validated, every producer shape turned into Pulse's own), sorted by (event time, event
id) and written to a temporary run as canonical JSON; iterating merges the runs. Equal
keys keep the file's order, as a stable in-memory sort would, so the order, and so every
trigger id, is the same either way.

Decoding is most of the reading, so a big file is read in parts of whole lines, one per
process (``engine.forked``), each knowing the number of its first line; the runs are
merged in the file's order, so the events, their order and the report are those of one
process reading it all.
"""

from __future__ import annotations

import heapq
import itertools
import shutil
import stat
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

import orjson

from engine.forked import run_forked
from signals.replay import Elsewhere
from signals.resolve import through_links
from signals.state import from_micros, micros
from topics.catalogue import INPUT_KINDS, TopicKind
from topics.codec import decode_input, decode_own_input, encode
from topics.errors import PulseIgnored, PulseValidationError
from topics.models import AccountProfile, InputEvent, UserAlias, UserLink

_KINDS = {kind.value: kind for kind in INPUT_KINDS}


@dataclass
class InputReport:
    """What reading the file found: decoded events and lines that were rejected."""

    events: list[tuple[str, InputEvent]] = field(default_factory=list)
    invalid: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    ignored: Counter[str] = field(default_factory=Counter)
    """Well-formed events Pulse deliberately does not use, by kind (e.g. a Stripe type)."""

    def reject(self, reason: str, line_number: int, detail: str) -> None:
        self.invalid[reason] += 1
        self.examples.setdefault(reason, f"line {line_number}: {detail}")

    def add(self, other: InputReport) -> None:
        """Count a later part of the same file in (the first example of a reason stays)."""
        self.invalid += other.invalid
        for reason, example in other.examples.items():
            self.examples.setdefault(reason, example)
        self.ignored += other.ignored

    def reject_invalid(self, error: PulseValidationError, line_number: int) -> None:
        where = error.field
        reason = "bad line" if where in {"<line>", "topic"} else f"invalid {where}"
        self.reject(reason, line_number, str(error))


def _line_value(line: bytes) -> tuple[TopicKind, bytes]:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise PulseValidationError("<line>", f"not JSON: {exc}") from None
    if not isinstance(record, dict) or set(record) != {"topic", "value"}:
        raise PulseValidationError("<line>", 'expected {"topic": ..., "value": ...}')
    topic = record["topic"]
    if topic not in _KINDS:
        raise PulseValidationError("topic", f"{topic!r} is not one of {', '.join(_KINDS)}")
    value = record["value"]
    raw = value.encode() if isinstance(value, str) else orjson.dumps(value)
    return _KINDS[topic], raw


def decode_line(
    line: bytes, stripe: Mapping[str, Any] | None = None
) -> tuple[TopicKind, InputEvent]:
    """One replay line's event, in Pulse's own model; PulseValidationError if invalid,
    PulseIgnored if deliberately unused. `stripe`: the deployment's Stripe options
    (``Settings.stripe_options``), so a file reads as the worker reads the topic."""
    kind, raw = _line_value(line)
    return kind, decode_input(kind, raw, stripe=stripe)


CHUNK_EVENTS: Final = 25_000
"""Events sorted in memory at a time, as canonical JSON: about 100 MB at the peak."""

Entry = tuple[int, str, str, bytes, str, str]
"""(event time µs, event id, topic, canonical JSON, account, traits): the account where
the event goes straight to it (not through user or customer links), else ``""``; the
account traits a group call carried (``UserLink.account_traits``, not a field of its
canonical JSON) as a profile's JSON, else ``""``."""


class SortedEventFile:
    """The valid events of a file, iterable (any number of times) in event-time order.

    Lines that cannot be read or validated are counted in ``report`` with an example,
    as `pulse replay` reports them. Use as a context manager: the runs live in a
    temporary directory until ``close``.
    """

    def __init__(
        self,
        path: Path,
        *,
        chunk_events: int = CHUNK_EVENTS,
        progress: IO[str] | None = None,
        stripe: Mapping[str, Any] | None = None,
        processes: int = 1,
    ) -> None:
        self.path = path
        self._stripe = stripe
        self.report = InputReport()
        self.events = 0
        self._dir = Path(tempfile.mkdtemp(prefix="pulse-events-"))
        self._runs: list[Path] = []
        try:
            self._sort(chunk_events, progress, processes)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> SortedEventFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)

    def __iter__(self) -> Iterator[tuple[str, InputEvent]]:
        for _, _, topic, raw, _, traits in self._merged():
            yield topic, _decoded(raw, traits)

    def for_shard(
        self, owns: Callable[[str], bool]
    ) -> Iterator[tuple[str, InputEvent] | Elsewhere]:
        """The events in order, those of accounts ``owns`` refuses not decoded: passed as
        ``Elsewhere`` (their time and account), unless they go through links."""
        for occurred_us, _, topic, raw, account, traits in self._merged():
            if account and not owns(account):
                yield Elsewhere(from_micros(occurred_us), account)
            else:
                yield topic, _decoded(raw, traits)

    def _merged(self) -> Iterator[Entry]:
        runs = [self._read_run(run) for run in self._runs]
        return heapq.merge(*runs, key=lambda entry: (entry[0], entry[1]))

    # -- the sort --------------------------------------------------------------------

    def _sort(self, chunk_events: int, progress: IO[str] | None, processes: int) -> None:
        parts = _parts(self.path, processes)

        def read(index: int) -> tuple[InputReport, int, list[Path]]:
            part = _Part(self.path, self._dir, self._stripe, parts, index)
            return part.read(chunk_events, progress if index == 0 else None)

        for report, events, runs in run_forked([partial(read, i) for i in range(len(parts))]):
            self.report.add(report)
            self.events += events
            self._runs += runs

    @staticmethod
    def _read_run(run: Path) -> Iterator[Entry]:
        with run.open("rb") as lines:
            for line in lines:
                occurred_us, event_id, topic, raw, account, traits = orjson.loads(line)
                yield occurred_us, event_id, topic, raw.encode(), account, traits


MIN_PART_BYTES: Final = 4 << 20
"""A file is read in parts (one per process) only where each would be at least this big."""


def _parts(path: Path, processes: int) -> list[tuple[int, int, int]]:
    """``(first byte, end byte, first line number)`` of up to ``processes`` parts of the
    file, each whole lines. What is not a regular file (a pipe, ``<(...)``, /dev/stdin)
    is one part, read to its end (end byte -1)."""
    if not stat.S_ISREG(path.stat().st_mode):
        return [(0, -1, 1)]
    size = path.stat().st_size
    count = max(1, min(processes, size // MIN_PART_BYTES))
    starts = [0]
    with path.open("rb") as data:
        for k in range(1, count):
            data.seek(size * k // count)
            data.readline()  # on to the start of the next line
            if data.tell() > starts[-1] and data.tell() < size:
                starts.append(data.tell())
        lines, numbers = 1, [1]
        data.seek(0)
        for start, end in itertools.pairwise(starts):
            lines += _newlines(data, end - start)
            numbers.append(lines)
    ends = [*starts[1:], size]
    return list(zip(starts, ends, numbers, strict=True))


def _newlines(data: IO[bytes], length: int) -> int:
    count = 0
    while length > 0:
        block = data.read(min(length, 1 << 24))
        if not block:
            break
        count += block.count(b"\n")
        length -= len(block)
    return count


class _Part:
    """One part of a file decoded, sorted in chunks and written as runs."""

    def __init__(
        self,
        path: Path,
        folder: Path,
        stripe: Mapping[str, Any] | None,
        parts: list[tuple[int, int, int]],
        index: int,
    ) -> None:
        self.path, self.folder, self.stripe = path, folder, stripe
        self.parts, self.index = parts, index
        self.report = InputReport()
        self.runs: list[Path] = []

    def read(
        self, chunk_events: int, progress: IO[str] | None
    ) -> tuple[InputReport, int, list[Path]]:
        start, end, first = self.parts[self.index]
        chunk: list[Entry] = []
        events = 0
        started = last = time.monotonic()
        with self.path.open("rb") as data:
            if start:
                data.seek(start)
            position = start
            for number, line in enumerate(data, first):
                if 0 <= end <= position:
                    break
                position += len(line)
                if not line.strip():
                    continue
                try:
                    kind, event = decode_line(line, self.stripe)
                except PulseValidationError as exc:
                    self.report.reject_invalid(exc, number)
                    continue
                except PulseIgnored as exc:
                    self.report.ignored[exc.kind] += 1
                    continue
                at, direct = micros(event.occurred_at), _direct_account(event)
                traits = self._traits(event)
                chunk.append((at, event.event_id, kind.value, encode(event), direct, traits))
                events += 1
                if len(chunk) >= chunk_events:
                    self._write_run(chunk)
                    chunk = []
                if progress is not None and time.monotonic() - last >= 1:
                    last = time.monotonic()
                    print(
                        self._progress(number - first, position - start, last - started),
                        file=progress,
                    )
        if chunk:
            self._write_run(chunk)
        return self.report, events, self.runs

    def _progress(self, lines: int, done_bytes: int, seconds: float) -> str:
        start, end, _ = self.parts[self.index]
        rate = f"{lines / seconds:,.0f} lines/s"
        if end < 0:  # a pipe: no size to compare with
            return f"pulse: read {lines:,} lines ({rate})"
        share = done_bytes / max(end - start, 1)
        parts = len(self.parts)
        each = f" in each of {parts} processes" if parts > 1 else ""
        return f"pulse: read {share:.0%} of the file ({rate}{each})"

    def _traits(self, event: InputEvent) -> str:
        """A group call's account traits, kept beside it; the traits whose values Pulse
        cannot use counted as ignored, as a worker counts them."""
        if not isinstance(event, UserLink):
            return ""
        for trait in event.dropped_traits:
            self.report.ignored[f"segment:{trait}"] += 1
        profile = event.account_traits
        return "" if profile is None else encode(profile).decode()

    def _write_run(self, chunk: list[Entry]) -> None:
        chunk.sort(key=lambda entry: (entry[0], entry[1]))
        run = self.folder / f"run-{self.index:03d}-{len(self.runs):05d}.jsonl"
        with run.open("wb") as out:
            for occurred_us, event_id, topic, raw, account, traits in chunk:
                line = [occurred_us, event_id, topic, raw.decode(), account, traits]
                out.write(orjson.dumps(line) + b"\n")
        self.runs.append(run)


def _direct_account(event: InputEvent) -> str:
    """The account an event goes straight to, or ``""`` where it goes through links."""
    if isinstance(event, UserAlias) or through_links(event):
        return ""
    return event.account_id or ""


def _decoded(raw: bytes, traits: str) -> InputEvent:
    """An event of a run, as the sort decoded it (its JSON is Pulse's own)."""
    event = decode_own_input(raw)
    if traits and isinstance(event, UserLink):
        return event.with_traits(AccountProfile.model_validate_json(traits), ())
    return event
