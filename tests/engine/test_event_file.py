"""engine.event_file: a file read in parts, one per process, sorts as it does read whole."""

from __future__ import annotations

import itertools
import os
import threading
from pathlib import Path

import orjson
import pytest

from engine import event_file
from engine.event_file import SortedEventFile
from engine.simulator import Simulation, SimulationConfig
from engine.simulator.writers import write_replay
from signals.config import SignalsConfig
from signals.replay import replay
from signals.rules import default_rules
from tests.topics import payloads
from topics.codec import encode
from topics.models import UserLink


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated month (with its malformed and duplicate messages), blank lines, bad
    lines, and a last line with no newline."""
    path = tmp_path_factory.mktemp("events") / "events.jsonl"
    with path.open("wb") as out:
        write_replay(Simulation(SimulationConfig(accounts=12, days=30, seed=4)).records(), out)
        out.write(b"\nnot json\n\n")
        out.write(b'{"topic": "clicks", "value": {}}')
    return path


def _read(path: Path, processes: int) -> tuple[list[bytes], dict[str, object]]:
    with SortedEventFile(path, processes=processes, chunk_events=500) as sorted_events:
        ordered = [topic.encode() + encode(event) for topic, event in sorted_events]
        report = sorted_events.report
        seen = {
            "events": sorted_events.events,
            "invalid": dict(report.invalid),
            "examples": dict(report.examples),
            "ignored": dict(report.ignored),
        }
    return ordered, seen


@pytest.mark.parametrize("processes", [2, 3])
def test_a_file_read_in_parts_gives_the_same_events_in_the_same_order(
    events: Path, processes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = _read(events, 1)
    monkeypatch.setattr(event_file, "MIN_PART_BYTES", 1024)
    assert len(event_file._parts(events, processes)) == processes
    parts = _read(events, processes)

    assert whole[1]["events"] > 1000  # type: ignore[operator]
    assert "bad line" in whole[1]["invalid"]  # type: ignore[operator]
    assert parts == whole  # events, order, counts, and each reason's first example's line


def test_parts_cover_every_line_once_and_know_their_line_numbers(
    events: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(event_file, "MIN_PART_BYTES", 1024)
    data = events.read_bytes()
    parts = event_file._parts(events, 4)
    assert parts[0][0] == 0
    assert parts[-1][1] == len(data)
    for (_, end, _), (start, _, number) in itertools.pairwise(parts):
        assert end == start
        assert data[start - 1 : start] == b"\n"  # a part starts at a line's start
        assert number == data[:start].count(b"\n") + 1


def test_a_pipe_is_read_whole_in_one_part(events: Path, tmp_path: Path) -> None:
    """``pulse replay <(zcat events.jsonl.gz)``: a pipe has no size to split by."""
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(events.read_bytes()))
    writer.start()
    try:
        piped = _read(fifo, 2)
    finally:
        writer.join()
    assert piped == _read(events, 1)


def test_a_group_calls_account_traits_survive_the_sort(tmp_path: Path) -> None:
    """The traits ride beside the link, not in its JSON; a trait Pulse cannot use is
    counted as ignored, as a worker counts it."""
    path = tmp_path / "group.jsonl"
    group = payloads.segment_group(traits={"name": "Acme Corp", "segment": "startup"})
    path.write_bytes(orjson.dumps({"topic": "usage", "value": group}) + b"\n")
    with SortedEventFile(path) as sorted_events:
        [(_, link)] = list(sorted_events)
        assert isinstance(link, UserLink)
        assert link.account_traits is not None
        assert link.account_traits.name == "Acme Corp"
        assert dict(sorted_events.report.ignored) == {"segment:traits.segment": 1}
        result = replay(sorted_events, SignalsConfig(), default_rules(), presorted=1)
    assert result.states["acme"].fact(result.states["acme"].profile, "name") == "Acme Corp"
