"""engine.runtime.checkpoint: outputs, then states, then changelog, then input offsets;
and a refused output stops the worker before its input may be committed."""

from __future__ import annotations

import asyncio
from typing import Any, NoReturn

import pytest
from faust.types import TP

from engine.runtime.checkpoint import EXIT_UNDELIVERED, WRITES_PER_BATCH, Checkpoint
from engine.transport.delivery import Deliveries, track
from engine.transport.inorder import InOrder

TOPIC = TP("pulse.usage.v1", 0)


class Exited(Exception):
    pass


class Journal:
    """Records the steps of a commit, in order."""

    def __init__(self) -> None:
        self.steps: list[str] = []


class Sent(Deliveries):
    """Deliveries whose settling is recorded, with what each produced message gives."""

    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self.journal = journal

    async def settle(self) -> int:
        self.journal.steps.append(f"settle {len(self)}")
        return await super().settle()


class Store:
    """Writes journalled; each drain that writes sends a changelog message
    (``changelog``, as the table does: into the writing task's deliveries)."""

    def __init__(self, journal: Journal, changelog: asyncio.Future[Any] | None = None) -> None:
        self.journal = journal
        self.changed = 0
        self.frozen = 0
        self.changelog = changelog

    def freeze(self) -> None:
        self.journal.steps.append("freeze")
        self.frozen, self.changed = self.frozen + self.changed, 0

    def drain(self, limit: int | None = None) -> int:
        count = self.frozen if limit is None else min(limit, self.frozen)
        if count:
            self.journal.steps.append(f"write {count}")
            self.frozen -= count
            if self.changelog is not None:
                track(self.changelog)
        return self.frozen


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def no_starts(tps: list[TP]) -> dict[TP, int]:
    return dict.fromkeys(tps, 0)


def exit_now(code: int) -> NoReturn:
    raise Exited(code)


def produced(result: BaseException | None = None) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    if result is None:
        future.set_result("ack")
    else:
        future.set_exception(result)
    return future


async def test_outputs_then_states_then_changelog_then_offsets() -> None:
    journal = Journal()
    sent = Sent(journal)
    in_order = InOrder(no_starts)
    changelog = asyncio.get_running_loop().create_future()
    store = Store(journal, changelog)
    checkpoint = Checkpoint(sent, in_order, store, exit_now=exit_now)
    sent.track(produced())
    store.changed = 3

    await checkpoint.commit([], {TOPIC: 42})

    assert journal.steps == ["settle 1", "freeze", "write 3"]
    await asyncio.sleep(0.01)
    assert in_order.committable == {}, "not before the changelog is acknowledged"
    assert len(sent) == 0, "the changelog is awaited apart, while the agent goes on"
    changelog.set_result("ack")
    await checkpoint.settled()
    assert in_order.committable == {TOPIC: 42}


async def test_a_refused_changelog_exits_before_offsets() -> None:
    journal = Journal()
    in_order = InOrder(no_starts)
    refused = produced(RuntimeError("record too large"))
    store = Store(journal, refused)
    store.changed = 1
    checkpoint = Checkpoint(Sent(journal), in_order, store, exit_now=exit_now)

    await checkpoint.commit([], {TOPIC: 42})
    with pytest.raises(Exited) as exited:
        await checkpoint.settled()

    assert exited.value.args == (EXIT_UNDELIVERED,)
    assert in_order.committable == {}


async def test_a_refused_output_exits_before_states_or_offsets() -> None:
    journal = Journal()
    sent = Sent(journal)
    in_order = InOrder(no_starts)
    checkpoint = Checkpoint(sent, in_order, Store(journal), exit_now=exit_now)
    sent.track(produced())
    sent.track(produced(RuntimeError("broker said no")))

    with pytest.raises(Exited) as exited:
        await checkpoint.commit([], {TOPIC: 42})

    assert exited.value.args == (EXIT_UNDELIVERED,)
    assert journal.steps == ["settle 2"], "no state written after a lost output"
    assert in_order.committable == {}, "the input is read again after the restart"


async def test_without_a_store_outputs_then_offsets() -> None:
    journal = Journal()
    in_order = InOrder(no_starts)
    checkpoint = Checkpoint(Sent(journal), in_order, exit_now=exit_now)

    await checkpoint.commit([], {TOPIC: 7})

    assert journal.steps == ["settle 0"]
    assert in_order.committable == {TOPIC: 7}


async def test_batches_within_the_interval_are_committed_together() -> None:
    journal, clock = Journal(), Clock()
    sent = Sent(journal)
    in_order = InOrder(no_starts)
    store = Store(journal)
    checkpoint = Checkpoint(sent, in_order, store, interval=5.0, monotonic=clock)
    other = TP("pulse.billing.v1", 1)

    await checkpoint.commit([], {TOPIC: 10})
    clock.now += 2
    await checkpoint.commit([], {TOPIC: 20, other: 3})
    assert journal.steps == [], "nothing written or settled within the interval"
    assert in_order.committable == {}, "no input committable before its states are written"
    assert checkpoint.pending == {TOPIC: 20, other: 3}

    clock.now += 3
    await checkpoint.commit([], {TOPIC: 25})
    assert journal.steps == ["settle 0", "freeze"]
    await checkpoint.settled()
    assert in_order.committable == {TOPIC: 25, other: 3}
    assert checkpoint.pending == {}


async def test_close_commits_the_open_window_at_once() -> None:
    """Before a revocation or a stop: the states are written while still owned."""
    journal = Journal()
    in_order = InOrder(no_starts)
    checkpoint = Checkpoint(Sent(journal), in_order, Store(journal), interval=60.0)

    await checkpoint.commit([], {TOPIC: 7})
    assert journal.steps == []
    await checkpoint.close()

    assert journal.steps == ["settle 0", "freeze"]
    assert in_order.committable == {TOPIC: 7}


async def test_the_window_closes_early_when_the_store_holds_too_many_changes() -> None:
    """Changed states stay in memory until written: the cache bound holds."""
    journal = Journal()
    in_order = InOrder(no_starts)
    store = Store(journal)
    checkpoint = Checkpoint(Sent(journal), in_order, store, interval=60.0, max_changed=100)

    store.changed = 99
    await checkpoint.commit([], {TOPIC: 1})
    assert journal.steps == []
    store.changed = 100
    await checkpoint.commit([], {TOPIC: 2})

    assert journal.steps == ["settle 0", "freeze"]
    await checkpoint.commit([], {TOPIC: 3})  # the next batch writes them
    await checkpoint.settled()
    assert journal.steps[-1] == "write 100"
    assert in_order.committable == {TOPIC: 2}


async def test_a_window_left_open_when_input_stops_is_committed_once_due() -> None:
    """The timer's ``close_if_due``: nothing before the interval, the window once due,
    and never halfway through a batch that is being handled."""
    journal, clock = Journal(), Clock()
    in_order = InOrder(no_starts)
    checkpoint = Checkpoint(Sent(journal), in_order, Store(journal), interval=5.0, monotonic=clock)

    await checkpoint.close_if_due()
    assert journal.steps == [], "no window open"
    async with checkpoint.handling():
        await checkpoint.commit([], {TOPIC: 4})
    clock.now += 4.9
    await checkpoint.close_if_due()
    assert journal.steps == []
    assert in_order.committable == {}

    clock.now += 0.1
    async with checkpoint.handling():  # a batch in hand: the timer waits for it
        timer = asyncio.create_task(checkpoint.close_if_due())
        await asyncio.sleep(0.01)
        assert not timer.done()
        assert journal.steps == []
        await checkpoint.commit([], {TOPIC: 6})  # due: this batch's commit closes it
    await timer
    assert journal.steps == ["settle 0", "freeze"], "one commit, not two"
    await checkpoint.settled()
    assert in_order.committable == {TOPIC: 6}


async def test_a_commits_states_are_written_over_the_next_batches() -> None:
    """Thousands of states written at once stalled the agent: a commit freezes them and
    the next batches write WRITES_PER_BATCH each; its offsets wait for the last write
    and its changelog, and the next commit finishes it first."""
    journal, clock = Journal(), Clock()
    in_order = InOrder(no_starts)
    store = Store(journal)
    checkpoint = Checkpoint(Sent(journal), in_order, store, interval=5.0, monotonic=clock)
    many = 2 * WRITES_PER_BATCH + 50

    await checkpoint.commit([], {TOPIC: 1})
    store.changed = many
    clock.now += 5
    await checkpoint.commit([], {TOPIC: 2})
    assert journal.steps == ["settle 0", "freeze"]
    await checkpoint.commit([], {TOPIC: 3})
    await checkpoint.settled()
    assert journal.steps[-1] == f"write {WRITES_PER_BATCH}"
    assert in_order.committable == {}, "not before every state of the commit is written"

    await checkpoint.commit([], {TOPIC: 4})
    await checkpoint.commit([], {TOPIC: 5})
    await checkpoint.settled()
    assert journal.steps[2:] == [f"write {WRITES_PER_BATCH}"] * 2 + ["write 50"]
    assert in_order.committable == {TOPIC: 2}, "the commit's offsets, not the window's since"

    store.changed = many
    clock.now += 5
    await checkpoint.commit([], {TOPIC: 6})  # the next commit
    await checkpoint.commit([], {TOPIC: 7})
    clock.now += 5
    await checkpoint.commit([], {TOPIC: 8})  # due again: the last one's states first
    assert journal.steps[-4:] == [
        f"write {WRITES_PER_BATCH}",
        f"write {many - WRITES_PER_BATCH}",
        "settle 0",
        "freeze",
    ]
    await checkpoint.settled()
    assert in_order.committable == {TOPIC: 8}, "no state changed since: at once"


async def test_while_batches_come_the_timer_leaves_the_writes_to_them() -> None:
    """Writing a whole commit from the timer would bring the stall back: it writes and
    commits only once no batch came for an interval."""
    journal, clock = Journal(), Clock()
    store = Store(journal)
    checkpoint = Checkpoint(Sent(journal), InOrder(no_starts), store, interval=1.0, monotonic=clock)
    await checkpoint.commit([], {TOPIC: 1})
    store.changed = 1000
    clock.now += 1
    await checkpoint.commit([], {TOPIC: 2})  # due: 1,000 states frozen
    clock.now += 0.5
    await checkpoint.commit([], {TOPIC: 3})
    assert store.frozen == 1000 - WRITES_PER_BATCH

    clock.now += 0.9
    await checkpoint.close_if_due()
    assert store.frozen == 1000 - WRITES_PER_BATCH, "a batch came 0.9 s ago"
    clock.now += 0.1
    await checkpoint.close_if_due()
    assert store.frozen == 0, "quiet for an interval: all written"
    assert journal.steps[-2:] == ["settle 0", "freeze"], "and the open window committed"


async def test_a_cancelled_wait_leaves_the_last_commit_to_finish() -> None:
    journal = Journal()
    in_order = InOrder(no_starts)
    changelog = asyncio.get_running_loop().create_future()
    store = Store(journal, changelog)
    store.changed = 1
    checkpoint = Checkpoint(Sent(journal), in_order, store)
    await checkpoint.commit([], {TOPIC: 9})

    waiter = asyncio.create_task(checkpoint.settled())
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    changelog.set_result("ack")
    await checkpoint.settled()
    assert in_order.committable == {TOPIC: 9}
