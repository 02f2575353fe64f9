"""Rewriting the Redis account view from the store, when Redis lost it.

The worker's store keeps, beside each account's state, the last health snapshot it
published (engine.envelope, format 4): the view rebuilt from the two is the one the
worker last wrote, with the state's newest triggers. Accounts that never published a
snapshot had no view and get none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from engine.envelope import Published
from engine.redis_view import ViewUpdate
from engine.view import account_view
from signals.state import AccountState
from topics.models import HealthSnapshot

CHUNK = 256
"""Accounts rewritten between two yields to the event loop (and ownership checks)."""


async def rewrite_views(
    keys: Iterable[bytes],
    read: Callable[[bytes], tuple[Published, AccountState] | None],
    submit: Callable[[ViewUpdate], None],
    *,
    owned: Callable[[], bool],
) -> int | None:
    """Submit the view of each account in ``keys`` (read from the store); how many, or
    None when ``owned()`` turned false on the way (a rebalance: try again later)."""
    written = 0
    for n, key in enumerate(keys):
        if n % CHUNK == 0:
            await asyncio.sleep(0)
            if not owned():
                return None
        loaded = read(key)
        if loaded is None or not loaded[0].snapshot:
            continue
        published, state = loaded
        snapshot = HealthSnapshot.model_validate_json(published.snapshot)
        submit(account_view(state, snapshot, ()))
        written += 1
    return written
