"""engine.inorder: each input offset processed once and in order; commits cover only that."""

from __future__ import annotations

from faust.types import TP

from engine.inorder import REWIND_EVERY_SECONDS, InOrder, Verdict

USAGE0 = TP("usage", 0)
USAGE1 = TP("usage", 1)


class Broker:
    """Committed offsets to start from, and the seeks asked for."""

    def __init__(self, committed: dict[TP, int]) -> None:
        self.committed = committed
        self.first: dict[TP, int] = {}
        self.asked: list[list[TP]] = []
        self.seeks: list[tuple[TP, int]] = []
        self.now = 0.0

    async def start_offsets(self, tps: list[TP]) -> dict[TP, int]:
        self.asked.append(tps)
        return {tp: self.committed[tp] for tp in tps}

    async def rewind(self, tp: TP, offset: int) -> int:
        self.seeks.append((tp, offset))
        return max(offset, self.first.get(tp, 0))

    def cursor(self) -> InOrder:
        return InOrder(self.start_offsets, self.rewind, clock=lambda: self.now)


async def test_records_are_processed_from_the_committed_offset_on() -> None:
    broker = Broker({USAGE0: 5, USAGE1: 0})
    cursor = broker.cursor()
    verdicts = [await cursor.check(USAGE0, o, lambda: [USAGE0, USAGE1]) for o in (5, 6, 7)]
    assert verdicts == [Verdict.PROCESS] * 3
    assert await cursor.check(USAGE1, 0, lambda: [USAGE0, USAGE1]) is Verdict.PROCESS
    assert broker.asked == [[USAGE0, USAGE1]]  # one lookup for every owned partition
    assert cursor.next_offset(USAGE0) == 8


async def test_a_record_read_again_after_a_seek_is_skipped() -> None:
    cursor = Broker({USAGE0: 0}).cursor()
    for offset in (0, 1, 2):
        await cursor.check(USAGE0, offset, lambda: [USAGE0])
    assert await cursor.check(USAGE0, 1, lambda: [USAGE0]) is Verdict.SEEN
    assert await cursor.check(USAGE0, 3, lambda: [USAGE0]) is Verdict.PROCESS


async def test_a_hole_is_never_processed_past_but_read_again() -> None:
    broker = Broker({USAGE0: 10})
    cursor = broker.cursor()
    await cursor.check(USAGE0, 10, lambda: [USAGE0])
    # the consumer dropped 11..29: 30, 31 come next
    assert await cursor.check(USAGE0, 30, lambda: [USAGE0]) is Verdict.AHEAD
    assert await cursor.check(USAGE0, 31, lambda: [USAGE0]) is Verdict.AHEAD
    assert broker.seeks == [(USAGE0, 11)]  # once, not per record
    broker.now += REWIND_EVERY_SECONDS
    assert await cursor.check(USAGE0, 32, lambda: [USAGE0]) is Verdict.AHEAD
    assert broker.seeks == [(USAGE0, 11), (USAGE0, 11)]  # still missing: asked again
    # the re-read arrives in order, and everything after it is processed once
    verdicts = [await cursor.check(USAGE0, o, lambda: [USAGE0]) for o in range(11, 33)]
    assert verdicts == [Verdict.PROCESS] * 22
    assert cursor.skipped == 3


async def test_only_settled_batches_may_be_committed_and_never_backwards() -> None:
    cursor = Broker({USAGE0: 0}).cursor()
    await cursor.check(USAGE0, 0, lambda: [USAGE0])
    assert cursor.committable == {}  # processed, not yet settled
    cursor.settled({USAGE0: 1})
    cursor.settled({USAGE0: 1, USAGE1: 4})
    assert cursor.committable == {USAGE0: 1, USAGE1: 4}
    cursor.settled({USAGE1: 2})  # an older batch settling late does not move it back
    assert cursor.committable[USAGE1] == 4


async def test_after_a_revocation_cursors_restart_from_the_committed_offsets() -> None:
    broker = Broker({USAGE0: 3})
    cursor = broker.cursor()
    await cursor.check(USAGE0, 3, lambda: [USAGE0])
    cursor.settled({USAGE0: 4})
    cursor.forget()
    assert cursor.committable == {}
    broker.committed[USAGE0] = 4
    assert await cursor.check(USAGE0, 4, lambda: [USAGE0]) is Verdict.PROCESS
    assert len(broker.asked) == 2


async def test_records_deleted_by_retention_before_they_were_read_are_passed_over() -> None:
    broker = Broker({USAGE0: 5})
    broker.first[USAGE0] = 40  # the group committed 5, retention has since deleted 5..39
    cursor = broker.cursor()
    assert await cursor.check(USAGE0, 40, lambda: [USAGE0]) is Verdict.PROCESS
    assert await cursor.check(USAGE0, 41, lambda: [USAGE0]) is Verdict.PROCESS
    assert broker.seeks == [(USAGE0, 5)]
    assert cursor.skipped == 0
