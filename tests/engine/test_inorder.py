"""engine.transport.inorder: each input offset processed once and in order; commits cover
only that."""

from __future__ import annotations

from faust.types import TP

from engine.transport.inorder import InOrder, Stranded, Verdict

USAGE0 = TP("usage", 0)
USAGE1 = TP("usage", 1)


class Broker:
    """Committed offsets to start from."""

    def __init__(self, committed: dict[TP, int]) -> None:
        self.committed = committed
        self.asked: list[list[TP]] = []

    async def start_offsets(self, tps: list[TP]) -> dict[TP, int]:
        self.asked.append(tps)
        return {tp: self.committed[tp] for tp in tps}

    def cursor(self) -> InOrder:
        return InOrder(self.start_offsets)


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


async def test_a_hole_is_never_processed_past_until_it_is_filled() -> None:
    cursor = Broker({USAGE0: 10}).cursor()
    await cursor.check(USAGE0, 10, lambda: [USAGE0])
    # the consumer dropped 11..29: 30 comes next
    assert await cursor.check(USAGE0, 30, lambda: [USAGE0]) is Verdict.AHEAD
    assert await cursor.check(USAGE0, 30, lambda: [USAGE0]) is Verdict.AHEAD
    assert cursor.next_offset(USAGE0) == 11  # the cursor waits at the hole
    cursor.moved(USAGE0, 20)  # 11..19 read again and processed
    assert await cursor.check(USAGE0, 30, lambda: [USAGE0]) is Verdict.AHEAD
    cursor.moved(USAGE0, 30)
    assert await cursor.check(USAGE0, 30, lambda: [USAGE0]) is Verdict.PROCESS
    assert await cursor.check(USAGE0, 25, lambda: [USAGE0]) is Verdict.SEEN  # faust re-reads
    assert cursor.holes == 3


async def test_the_cursor_never_moves_back() -> None:
    cursor = Broker({USAGE0: 0}).cursor()
    await cursor.check(USAGE0, 0, lambda: [USAGE0])
    cursor.moved(USAGE0, 8)
    cursor.moved(USAGE0, 3)
    assert cursor.next_offset(USAGE0) == 8


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


async def test_a_cursor_set_by_an_agent_while_the_start_was_looked_up_is_kept() -> None:
    broker = Broker({USAGE0: 0, USAGE1: 0})
    cursor = broker.cursor()
    slow = broker.start_offsets

    async def start_offsets(tps: list[TP]) -> dict[TP, int]:
        found = await slow(tps)
        cursor.moved(USAGE0, 7)  # the agent processed records meanwhile
        return found

    cursor._start_offsets = start_offsets
    await cursor.start([USAGE0, USAGE1])
    assert (cursor.cursor(USAGE0), cursor.cursor(USAGE1)) == (7, 0)


async def test_start_offsets_looked_up_across_a_rebalance_are_not_used() -> None:
    """A committed offset read before a revocation may be stale by the time it comes
    back (another worker may have moved it): it is asked for again."""
    broker = Broker({USAGE0: 3})
    cursor = broker.cursor()
    asked = broker.start_offsets
    calls = 0

    async def start_offsets(tps: list[TP]) -> dict[TP, int]:
        nonlocal calls
        calls += 1
        found = await asked(tps)
        if calls == 1:
            cursor.forget()  # the partitions were revoked, then assigned again
            broker.committed[USAGE0] = 9
        return found

    cursor._start_offsets = start_offsets
    assert await cursor.check(USAGE0, 9, lambda: [USAGE0]) is Verdict.PROCESS
    assert calls == 2


def test_a_partition_is_stranded_only_after_its_cursor_stood_still_below_the_end() -> None:
    stranded = Stranded(after=5.0)
    assert stranded.check(USAGE0, 10, 12, idle=True, now=0.0) is None  # first sight
    assert stranded.check(USAGE0, 10, 12, idle=True, now=4.9) is None
    assert stranded.check(USAGE0, 10, 12, idle=True, now=5.0) == "seek"
    assert stranded.check(USAGE0, 10, 12, idle=True, now=6.0) is None  # once per period
    assert stranded.check(USAGE0, 10, 12, idle=True, now=10.0) == "seek"


def test_a_moving_cursor_a_busy_agent_or_a_caught_up_partition_is_not_stranded() -> None:
    stranded = Stranded(after=5.0)
    stranded.check(USAGE0, 10, 12, idle=True, now=0.0)
    assert stranded.check(USAGE0, 11, 12, idle=True, now=6.0) is None  # moved: starts over
    assert stranded.check(USAGE0, 11, 12, idle=False, now=12.0) is None  # agents busy
    assert stranded.check(USAGE0, 11, 12, idle=True, now=12.0) == "seek"
    assert stranded.check(USAGE1, 4, 4, idle=True, now=0.0) is None  # read to the end
    assert stranded.check(USAGE1, 4, 4, idle=True, now=60.0) is None
    assert stranded.check(USAGE1, 4, None, idle=True, now=120.0) is None  # end unknown
    stranded.check(USAGE1, 4, 9, idle=True, now=200.0)
    stranded.forget()  # a rebalance: start over
    assert stranded.check(USAGE1, 4, 9, idle=True, now=300.0) is None


def test_a_cursor_that_seeking_does_not_move_is_given_up_once() -> None:
    """Offsets that hold no record (transaction markers, deleted records) can never be
    read: after a few seeks the worker says so once, instead of seeking forever."""
    stranded = Stranded(after=1.0, seeks=2)
    stranded.check(USAGE0, 7, 9, idle=True, now=0.0)
    verdicts = [stranded.check(USAGE0, 7, 9, idle=True, now=float(t)) for t in range(1, 8)]
    assert verdicts == ["seek", "seek", "give up", None, None, None, None]
    stranded.check(USAGE0, 9, 12, idle=True, now=8.0)  # more arrived and it moved on
    assert stranded.check(USAGE0, 9, 12, idle=True, now=9.0) == "seek"
