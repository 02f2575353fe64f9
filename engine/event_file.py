"""A replay-format events file in event-time order, in bounded memory (an external sort).

`pulse replay`, `pulse tune` and `pulse evaluate` read files of ``{"topic": ...,
"value": ...}`` lines, a year of history at a time. Holding every decoded event to sort
it took gigabytes, so the file is read once in chunks: each chunk's events are decoded
(validated, every producer shape turned into Pulse's own), sorted by (event time, event
id) and written to a temporary run as canonical JSON; iterating merges the runs. Equal
keys keep the file's order, as a stable in-memory sort would, so the order, and so every
trigger id, is the same either way.
"""

from __future__ import annotations

import heapq
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

import orjson

from signals.state import micros
from topics.catalogue import INPUT_KINDS, TopicKind
from topics.codec import decode_input, encode
from topics.errors import PulseIgnored, PulseValidationError
from topics.models import InputEvent

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

Entry = tuple[int, str, str, bytes]
"""(event time µs, event id, topic, canonical JSON)"""


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
    ) -> None:
        self.path = path
        self._stripe = stripe
        self.report = InputReport()
        self.events = 0
        self._dir = Path(tempfile.mkdtemp(prefix="pulse-events-"))
        self._runs: list[Path] = []
        try:
            self._sort(chunk_events, progress)
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
        runs = [self._read_run(run) for run in self._runs]
        for _, _, topic, raw in heapq.merge(*runs, key=lambda entry: (entry[0], entry[1])):
            yield topic, decode_input(TopicKind(topic), raw)

    # -- the sort --------------------------------------------------------------------

    def _sort(self, chunk_events: int, progress: IO[str] | None) -> None:
        chunk: list[Entry] = []
        started = last = time.monotonic()
        with self.path.open("rb") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    kind, event = decode_line(line, self._stripe)
                except PulseValidationError as exc:
                    self.report.reject_invalid(exc, number)
                    continue
                except PulseIgnored as exc:
                    self.report.ignored[exc.kind] += 1
                    continue
                chunk.append((micros(event.occurred_at), event.event_id, kind.value, encode(event)))
                self.events += 1
                if len(chunk) >= chunk_events:
                    self._write_run(chunk)
                    chunk = []
                if progress is not None and time.monotonic() - last >= 1:
                    last = time.monotonic()
                    rate = number / (last - started)
                    print(f"pulse: read {number:,} lines ({rate:,.0f}/s)", file=progress)
        if chunk:
            self._write_run(chunk)

    def _write_run(self, chunk: list[Entry]) -> None:
        chunk.sort(key=lambda entry: (entry[0], entry[1]))
        run = self._dir / f"run-{len(self._runs):05d}.jsonl"
        with run.open("wb") as out:
            for occurred_us, event_id, topic, raw in chunk:
                out.write(orjson.dumps([occurred_us, event_id, topic, raw.decode()]) + b"\n")
        self._runs.append(run)

    @staticmethod
    def _read_run(run: Path) -> Iterator[Entry]:
        with run.open("rb") as lines:
            for line in lines:
                occurred_us, event_id, topic, raw = orjson.loads(line)
                yield occurred_us, event_id, topic, raw.encode()
