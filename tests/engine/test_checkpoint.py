"""engine.runtime.checkpoint: outputs, then states, then changelog, then input offsets;
and a refused output stops the worker before its input may be committed."""

from __future__ import annotations

import asyncio
from typing import Any, NoReturn

import pytest
from faust.types import TP

from engine.runtime.checkpoint import EXIT_UNDELIVERED, Checkpoint
from engine.transport.delivery import Deliveries
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
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def flush(self) -> None:
        self.journal.steps.append("flush")


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
    checkpoint = Checkpoint(sent, in_order, Store(journal), exit_now=exit_now)
    sent.track(produced())

    await checkpoint.commit([], {TOPIC: 42})

    assert journal.steps == ["settle 1", "flush", "settle 0"]
    assert in_order.committable == {TOPIC: 42}


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
