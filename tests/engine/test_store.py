"""engine.runtime.store: the accounts a worker owns, as a transaction over their table.

Fast tests over a dict standing in for the faust table (get_in, set_for and iteration
are all the store uses); the worker tests run it over RocksDB and memory tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from engine.envelope import Published, pack, unpack
from engine.routing import partition_for
from engine.runtime.store import AccountStore
from engine.transport.delivery import TrackedTable
from signals.state import AccountState

PARTITIONS = 3


@dataclass(frozen=True)
class Message:
    partition: int
    offset: int


class Table(dict[bytes, bytes]):
    """The table's surface the store uses; counts writes as changelog messages."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[int, bytes]] = []

    def get_in(self, partition: int, key: bytes) -> bytes | None:
        assert partition_for(key, PARTITIONS) == partition, "read from another partition"
        return self.get(key)

    def set_for(self, message: Any, key: bytes, value: bytes) -> None:
        assert message.partition == partition_for(key, PARTITIONS), "written as another's"
        self.writes.append((message.partition, key))
        self[key] = value


def key_in(partition: int, n: int = 0) -> bytes:
    keys = (f"acct-{i}".encode() for i in range(1000))
    found = [k for k in keys if partition_for(k, PARTITIONS) == partition]
    return found[n]


def store_over(table: Table, cache: int = 100) -> AccountStore:
    return AccountStore(cast(TrackedTable, table), PARTITIONS, cache)


def commit(store: AccountStore) -> None:
    """A commit whose states are all written at once."""
    store.freeze()
    store.drain()


def change(store: AccountStore, key: bytes, message: Message, nps: int) -> None:
    published, state = store.load(key, message.partition)
    state.nps[str(message.offset)] = [message.offset, 0, 0, nps]
    store.put(key, message.partition, published, state)


def test_changes_reach_the_table_once_per_account_per_batch() -> None:
    table = Table()
    store = store_over(table)
    a, b = key_in(0), key_in(1)
    for offset, key in enumerate([a, b, a, a]):
        message = Message(partition_for(key, PARTITIONS), offset)
        store.begin(message)
        change(store, key, message, nps=offset)
        store.keep()
    assert table == {}, "nothing is written before the batch ends"

    commit(store)

    assert sorted(table.writes) == sorted([(0, a), (1, b)])
    _, state = unpack(table[a])
    assert sorted(state.nps) == ["0", "2", "3"]


def test_a_failed_message_rolls_its_accounts_back_and_names_the_earlier_ones() -> None:
    table = Table()
    store = store_over(table)
    a, b = key_in(0), key_in(0, 1)
    table[a] = pack(Published(), AccountState(a.decode()))  # as of the last batch
    first, second, failed = Message(0, 1), Message(0, 2), Message(0, 3)
    store.begin(first)
    change(store, a, first, nps=9)
    store.keep()
    store.begin(second)
    change(store, b, second, nps=8)
    store.keep()
    store.begin(failed)
    change(store, a, failed, nps=1)

    undone = store.roll_back()
    commit(store)

    assert undone == [first], "the batch's earlier message for the same account"
    assert unpack(table[a])[1].nps == {}, "the account is as the table had it"
    assert store.load(a, 0)[1].nps == {}
    assert sorted(unpack(table[b])[1].nps) == ["2"], "another account keeps its change"


def test_the_cache_is_trimmed_after_a_batch_and_evicted_states_reload_equal() -> None:
    table = Table()
    store = store_over(table, cache=2)
    keys = [key_in(0, n) for n in range(5)]
    for offset, key in enumerate(keys):
        message = Message(0, offset)
        store.begin(message)
        change(store, key, message, nps=offset)
        store.keep()
    commit(store)

    reloaded = [store.load(key, 0)[1] for key in keys]

    assert [sorted(state.nps) for state in reloaded] == [[str(n)] for n in range(5)]
    assert len(table.writes) == 5


def test_after_a_revocation_clean_states_reload_and_changes_in_hand_are_still_written() -> None:
    table = Table()
    store = store_over(table)
    clean, dirty = key_in(2), key_in(2, 1)
    message = Message(2, 0)
    store.begin(message)
    change(store, clean, message, nps=5)
    store.keep()
    commit(store)
    store.begin(Message(2, 1))
    change(store, dirty, Message(2, 1), nps=6)
    store.keep()
    table[clean] = pack(Published(score=1.0), AccountState(clean.decode()))  # a new owner's

    store.forget()
    commit(store)

    assert store.load(clean, 2)[0].score == 1.0, "reloaded from the table"
    assert sorted(unpack(table[dirty])[1].nps) == ["1"]
    assert store.accounts_in(2) == {clean, dirty}


def test_peek_reads_without_touching_the_batch() -> None:
    table = Table()
    store = store_over(table)
    key = key_in(1)
    assert store.peek(key, 1) is None
    table[key] = pack(Published(score=70.0), AccountState(key.decode()))
    store.begin(Message(1, 0))
    peeked = store.peek(key, 1)
    assert peeked is not None
    assert peeked[0].score == 70.0
    assert store.roll_back() == []
    commit(store)
    assert table.writes == []


def stored_nps(table: Table, key: bytes) -> dict[str, Any]:
    return dict(unpack(table[key])[1].nps)


def test_a_commits_states_are_written_later_each_as_it_was_at_the_commit() -> None:
    """``freeze`` marks the changed accounts; ``drain`` writes some at a time; an account
    that changes again first is written as it was at the commit (copy on write), so the
    table never holds a change of the next window before its outputs are delivered."""
    table = Table()
    store = store_over(table, cache=1)
    keys = [key_in(0, n) for n in range(5)]
    for offset, key in enumerate(keys):
        store.begin(Message(0, offset))
        change(store, key, Message(0, offset), nps=offset)
        store.keep()

    store.freeze()
    assert (store.changed, store.frozen, table.writes) == (0, 5, [])
    store.begin(Message(0, 10))
    change(store, keys[0], Message(0, 10), nps=9)  # the next window changes one
    store.keep()
    assert table.writes == [(0, keys[0])], "written before it changed"
    assert stored_nps(table, keys[0]) == {"0": [0, 0, 0, 0]}, "as it was at the commit"
    assert (store.changed, store.frozen) == (1, 4)

    assert store.drain(3) == 1
    assert len(table.writes) == 4
    assert store.drain() == 0
    assert sorted(k for _, k in table.writes) == sorted(keys)
    assert len(store._cache) == 1, "trimmed to the cache size once all are written"
    assert keys[0] in store._cache, "but never a change not yet written"

    commit(store)
    assert stored_nps(table, keys[0]) == {"0": [0, 0, 0, 0], "10": [10, 0, 0, 9]}


def test_a_frozen_state_whose_write_fails_stays_to_be_written() -> None:
    """Copy on write that fails (the producer refused, a bug) must not drop the state:
    the message is rolled back, and the state is still written before its commit ends."""
    table = Table()
    store = store_over(table)
    key = key_in(0)
    store.begin(Message(0, 1))
    change(store, key, Message(0, 1), nps=1)
    store.keep()
    store.freeze()

    def refuse(message: Any, key: bytes, value: bytes) -> None:
        raise RuntimeError("producer refused")

    table.set_for = refuse  # type: ignore[method-assign]
    store.begin(Message(0, 2))
    try:
        store.load(key, 0)
    except RuntimeError:
        store.roll_back()
    assert store.frozen == 1, "still to be written"

    del table.set_for
    assert store.drain() == 0
    assert stored_nps(table, key) == {"1": [1, 0, 0, 1]}
