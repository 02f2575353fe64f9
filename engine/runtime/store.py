"""The accounts a worker owns, as a transaction over their table.

The table (one value per account: engine.envelope) is the source of truth, kept in
RocksDB and its changelog. Decoding a state costs more than the rules, so states are
decoded once and kept in a least-recently-used cache while the worker owns them.
Changes stay in the cache until the commit (engine.runtime.checkpoint: every few
seconds): ``flush`` writes each changed account once (one changelog message per
account per commit, not per event), and a message whose handling failed rolls its
accounts back to what the table holds (Quix Streams' ``PartitionTransaction``).

A commit window's life: ``begin(message)`` before each message; ``load``/``put``
while handling it; then ``keep()`` if it succeeded, or ``roll_back()`` (which returns
the messages since the last commit that changed the same accounts: they were undone
too); ``flush()`` once the outputs made since the last commit are delivered.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from engine.envelope import Published, pack, unpack
from engine.routing import partition_for
from engine.transport.delivery import TrackedTable
from signals.state import AccountState

Loaded = tuple[Published, AccountState]


class AccountStore:
    """The account table with a cache of decoded states and a batch of changes."""

    def __init__(self, table: TrackedTable, partitions: int, cache_size: int) -> None:
        self.table = table
        self.partitions = partitions
        self.cache_size = cache_size
        self._cache: OrderedDict[bytes, Loaded] = OrderedDict()
        """Decoded states of recently used accounts, least recently used first; at most
        ``cache_size`` once a batch is flushed."""
        self._dirty: dict[bytes, Any] = {}
        """account -> a message of its partition: changed since the last flush, not yet
        written"""
        self._batch: dict[bytes, list[Any]] = {}
        """account -> the messages since the last flush that changed it (undone by a
        rollback)"""
        self._touched: set[bytes] = set()
        """accounts loaded while handling the current message"""
        self._current: Any = None
        """the message being handled"""
        self._index: dict[int, set[bytes]] = {}
        """partition -> its accounts (read from the table once per assignment)"""

    # -- one message ----------------------------------------------------------------

    def begin(self, message: Any) -> None:
        """Start handling ``message`` (a faust event): what it changes is its own."""
        self._current = message
        self._touched.clear()

    def load(self, key: bytes, partition: int) -> Loaded:
        """The account's state, to change: from the cache, or decoded from the table
        (a new account when it has none)."""
        self._touched.add(key)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        stored = self.table.get_in(partition, key)
        loaded = (Published(), AccountState(key.decode())) if stored is None else unpack(stored)
        self._cache[key] = loaded
        return loaded

    def peek(self, key: bytes, partition: int) -> Loaded | None:
        """The account as cached or stored, leaving the cache as it is; None if unknown."""
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        stored = self.table.get_in(partition, key)
        return None if stored is None else unpack(stored)

    def put(self, key: bytes, partition: int, published: Published, state: AccountState) -> None:
        """Keep a change, written by ``flush``."""
        self._cache[key] = (published, state)
        self._dirty[key] = self._current
        self.accounts_in(partition).add(key)

    def keep(self) -> None:
        """The current message was handled: its changes join the batch."""
        for key in self._touched:
            self._batch.setdefault(key, []).append(self._current)

    def roll_back(self) -> list[Any]:
        """The current message failed: its accounts go back to what the table holds.
        Returns the batch's earlier messages that had changed them (undone as well)."""
        earlier: dict[int, Any] = {}
        for key in self._touched:
            self._cache.pop(key, None)
            self._dirty.pop(key, None)
            for message in self._batch.pop(key, ()):
                earlier[id(message)] = message
        return list(earlier.values())

    # -- the batch and the partitions -------------------------------------------------

    def flush(self) -> None:
        """Write each account changed since the last flush to its table (and changelog)
        once, then trim the cache."""
        for key, message in self._dirty.items():
            self.table.set_for(message, key, pack(*self._cache[key]))
        self._dirty.clear()
        self._batch.clear()
        for _ in range(max(0, len(self._cache) - self.cache_size)):
            self._cache.popitem(last=False)

    @property
    def changed(self) -> int:
        """Accounts changed since the last flush (kept in the cache until it)."""
        return len(self._dirty)

    def accounts_in(self, partition: int) -> set[bytes]:
        """The accounts of ``partition`` (the table's, and those put since)."""
        index = self._index.get(partition)
        if index is None:
            index = {key for key in self.table if partition_for(key, self.partitions) == partition}
            self._index[partition] = index
        return index

    @property
    def accounts(self) -> int:
        """Accounts indexed so far, over the partitions owned."""
        return sum(len(index) for index in self._index.values())

    def forget(self) -> None:
        """Partitions were revoked: forget the index and the clean cached states (they
        reload from the table); the batch in hand still writes the rest when it ends."""
        self._index.clear()
        for key in [k for k in self._cache if k not in self._dirty]:
            del self._cache[key]
