"""The accounts a worker owns, as a transaction over their table.

The table (one value per account: engine.envelope) is the source of truth, kept in
RocksDB and its changelog. Decoding a state costs more than the rules, so states are
decoded once and kept in a least-recently-used cache while the worker owns them.
Changes stay in the cache until the commit (engine.runtime.checkpoint: every few
seconds), which writes each changed account once (one changelog message per account
per commit, not per event), and a message whose handling failed rolls its accounts
back to what the table holds (Quix Streams' ``PartitionTransaction``).

A commit window's life: ``begin(message)`` before each message; ``load``/``put``
while handling it; then ``keep()`` if it succeeded, or ``roll_back()`` (which returns
the messages since the last commit that changed the same accounts: they were undone
too); ``freeze()`` once the outputs made since the last commit are delivered.

Writing thousands of states at once stalls the agent and floods the producer ahead
of the next triggers, so a commit's writes are spread: ``freeze`` only marks the
changed accounts, ``drain(n)`` writes n of them between batches, and an account that
is about to change again (``load``) is written first, as it was at the commit (copy
on write).
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
        ``cache_size`` once a commit's states are all written."""
        self._dirty: dict[bytes, Any] = {}
        """account -> a message of its partition: changed since the last commit"""
        self._frozen: dict[bytes, Any] = {}
        """account -> a message of its partition: changed before the last commit and not
        yet written; written before it changes again"""
        self._batch: dict[bytes, list[Any]] = {}
        """account -> the messages since the last commit that changed it (undone by a
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
        if key in self._frozen:  # as it was at the commit, before it changes
            self._write(key, self._frozen[key])
            del self._frozen[key]  # only once written: a failed write leaves it frozen
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
        """Keep a change, written after the next commit (``freeze``, ``drain``)."""
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
            if key not in self._frozen:  # a frozen state is as at the commit, unchanged
                self._cache.pop(key, None)
            self._dirty.pop(key, None)
            for message in self._batch.pop(key, ()):
                earlier[id(message)] = message
        return list(earlier.values())

    # -- the batch and the partitions -------------------------------------------------

    def freeze(self) -> None:
        """The commit: the accounts changed since the last one are to be written as they
        are now, by ``drain`` or, whichever comes first, before they change again."""
        self._frozen.update(self._dirty)
        self._dirty.clear()
        self._batch.clear()

    def drain(self, limit: int | None = None) -> int:
        """Write up to ``limit`` (None: all) of the frozen accounts; how many are left.
        The cache is trimmed once none are."""
        frozen = self._frozen
        count = len(frozen) if limit is None else min(limit, len(frozen))
        for _ in range(count):
            key = next(reversed(frozen))
            self._write(key, frozen[key])
            del frozen[key]
        if not frozen:
            self._trim()
        return len(frozen)

    def _write(self, key: bytes, message: Any) -> None:
        self.table.set_for(message, key, pack(*self._cache[key]))

    def _trim(self) -> None:
        """Drop the least recently used clean states beyond ``cache_size``."""
        excess = len(self._cache) - self.cache_size
        if excess <= 0:
            return
        clean = (k for k in self._cache if k not in self._dirty and k not in self._frozen)
        for key in [k for k, _ in zip(clean, range(excess), strict=False)]:
            del self._cache[key]

    @property
    def changed(self) -> int:
        """Accounts changed since the last commit (kept in the cache until written)."""
        return len(self._dirty)

    @property
    def frozen(self) -> int:
        """Accounts of the last commit not yet written."""
        return len(self._frozen)

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
        for key in [k for k in self._cache if k not in self._dirty and k not in self._frozen]:
            del self._cache[key]
