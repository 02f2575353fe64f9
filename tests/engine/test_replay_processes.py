"""`pulse replay` over several processes: the same result as one, errors not swallowed."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.event_file import SortedEventFile
from engine.forked import processes_arg
from engine.replay_processes import replay_in_processes
from engine.simulator import Simulation, SimulationConfig
from engine.simulator.writers import write_replay
from signals.config import SignalsConfig
from signals.errors import SignalsError
from signals.replay import Elsewhere, Shard, replay
from signals.rules import default_rules
from tests.signals.test_replay_shards import CONFIG, _population
from topics.codec import encode
from topics.models import InputEvent

RULES = default_rules()


def test_forked_processes_give_the_replay_of_one() -> None:
    events = _population(seed=5, preset="realistic")
    one = replay(events, CONFIG, RULES)
    three = replay_in_processes(events, CONFIG, RULES, processes=3)

    assert one.triggers
    assert one.cancellations  # trial lapses within the 45 days
    assert [encode(t) for t in three.triggers] == [encode(t) for t in one.triggers]
    assert [encode(c) for c in three.cancellations] == [encode(c) for c in one.cancellations]
    assert three.rejections == one.rejections
    assert three.summary == one.summary
    assert {a: s.to_bytes() for a, s in three.states.items()} == {
        a: s.to_bytes() for a, s in one.states.items()
    }


class _FailingElsewhere:
    """Events whose reading fails part way in any process but the one that made them,
    as a file on a disk lost under one process would: the failure is a child's."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.maker = os.getpid()
        self.events = _population(seed=1, preset="easy")[:50]

    def __iter__(self) -> Iterator[tuple[str, InputEvent]]:
        yield from self.events
        if os.getpid() != self.maker:
            raise self.error


def test_a_failure_in_a_process_is_raised_in_the_caller() -> None:
    events = _FailingElsewhere(OSError(5, "Input/output error"))
    with pytest.raises(OSError, match="Input/output error"):
        replay_in_processes(events, SignalsConfig(), RULES, processes=2, presorted=50)


def test_an_unexpected_failure_names_its_process_and_traceback() -> None:
    events = _FailingElsewhere(KeyError("boom"))
    with pytest.raises(
        SignalsError, match=r"task 1 of a forked batch failed:(.|\n)*KeyError: 'boom'"
    ):
        replay_in_processes(events, SignalsConfig(), RULES, processes=3, presorted=50)


@pytest.mark.parametrize("text", ["0", "-2", "two", ""])
def test_a_number_of_processes_below_one_is_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="1 or more"):
        processes_arg(text)


def test_a_sorted_file_split_over_processes_gives_the_replay_of_one(tmp_path: Path) -> None:
    """Each process decodes only its own accounts' direct events (``for_shard``); user
    links, aliases and customer events are decoded and attributed by every one."""
    path = tmp_path / "events.jsonl"
    simulation = SimulationConfig(accounts=14, days=40, seed=9, preset="realistic")
    with path.open("wb") as out:
        write_replay(Simulation(simulation).records(), out)
    with SortedEventFile(path) as events:
        one = replay(events, CONFIG, RULES, presorted=events.events)
        three = replay_in_processes(events, CONFIG, RULES, processes=3, presorted=events.events)
        skipped = sum(isinstance(e, Elsewhere) for e in events.for_shard(Shard(0, 3).owns))

    assert skipped > events.events / 2  # most events never decoded by the first process
    assert one.rejections  # unresolved users among them: attribution ran everywhere
    assert [encode(t) for t in three.triggers] == [encode(t) for t in one.triggers]
    assert three.rejections == one.rejections
    assert three.summary == one.summary


def test_events_passed_undecoded_need_a_sorted_input() -> None:
    elsewhere = Elsewhere(datetime(2026, 10, 1, tzinfo=UTC), "acme")
    with pytest.raises(ValueError, match="presorted"):
        replay([elsewhere], SignalsConfig(), RULES)
