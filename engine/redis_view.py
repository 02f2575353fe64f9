"""The Redis account view: a read-optimised projection, written off the hot path.

Redis is not the source of truth. Workers hand the latest view of an account
to `RedisProjection.submit`, which keeps only the newest per account and
writes batches in the background. When Redis is down, updates stay pending
(one per account, so memory is bounded by the accounts a worker owns), the
failure is counted and logged, and the view catches up when Redis returns.

Redis may also come back empty (restarted without persistence, flushed, failed
over to an empty replica), or a worker may start after Redis lost its data. Each
projection keeps a marker key of its own (``{prefix}:view:alive:{instance}``,
refreshed every ``check_every`` seconds): when it is missing, the whole view is
taken as lost and ``rebuild`` (the worker's) rewrites the view of every account
the worker owns from its store. The marker is new at start, so a starting worker
rewrites its accounts' views once it is ready.

Layout under a prefix (default ``pulse``):
- ``{prefix}:account:{id}``: the account view document (JSON);
- ``{prefix}:accounts:score``: every scored account by health score;
- ``{prefix}:accounts:band:{band}``: accounts per band by score, worst first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from engine.metrics import Metrics

log = logging.getLogger(__name__)

BANDS = ("green", "yellow", "red", "unknown")
MARKER_TTL_SECONDS = 86_400
"""A stopped worker's marker goes away by itself."""


@dataclass(frozen=True, slots=True)
class ViewUpdate:
    """The newest view of one account; `document` is its JSON encoding."""

    account_id: str
    band: str
    score: float | None
    document: bytes


class RedisProjection:
    """Coalesces account views and writes them to Redis in batches, retrying on failure."""

    def __init__(
        self,
        client: aioredis.Redis,
        metrics: Metrics,
        *,
        prefix: str = "pulse",
        flush_interval: float = 0.1,
        max_batch: int = 500,
        max_backoff: float = 5.0,
        check_every: float = 5.0,
    ) -> None:
        self._client = client
        self._metrics = metrics
        self._prefix = prefix
        self._flush_interval = flush_interval
        self._max_batch = max_batch
        self._max_backoff = max_backoff
        self._pending: dict[str, tuple[ViewUpdate, float]] = {}
        self._wake = asyncio.Event()
        self._failures = 0
        self._in_flight = 0
        self._check_every = check_every
        self._marker = f"{prefix}:view:alive:{uuid.uuid4().hex}"
        self._next_check = 0.0
        self._checked = False
        self._lost = ""
        """Why the view is to be rewritten ("at start", "lost"), or "" when it is not."""
        self.rebuild: Callable[[], Awaitable[int | None]] | None = None
        """Set by the worker: submits the view of every account it owns and returns how
        many, or None when it cannot yet (not ready: asked again at the next check)."""

    @property
    def pending(self) -> int:
        """Views not yet confirmed written, including a batch being written now."""
        return len(self._pending) + self._in_flight

    def submit(self, update: ViewUpdate) -> None:
        """Queue an account's newest view; never blocks and never touches Redis."""
        previous = self._pending.get(update.account_id)
        since = previous[1] if previous else time.monotonic()
        self._pending[update.account_id] = (update, since)
        if len(self._pending) >= self._max_batch:
            self._wake.set()

    async def flush(self) -> int:
        """Write up to one batch; return how many views were written. Raises on Redis errors."""
        if not self._pending:
            return 0
        batch = []
        for account_id in list(self._pending)[: self._max_batch]:
            batch.append(self._pending.pop(account_id))
        self._in_flight = len(batch)
        try:
            await self._write([update for update, _ in batch])
        except (RedisError, OSError):
            for update, since in batch:  # a newer view queued meanwhile wins
                if update.account_id not in self._pending:
                    self._pending[update.account_id] = (update, since)
            raise
        finally:
            self._in_flight = 0
        self._metrics.redis_writes.inc(len(batch))
        return len(batch)

    async def _write(self, updates: list[ViewUpdate]) -> None:
        prefix = self._prefix
        async with self._client.pipeline(transaction=True) as pipe:
            for update in updates:
                pipe.set(f"{prefix}:account:{update.account_id}", update.document)
                for band in BANDS:
                    if band != update.band:
                        pipe.zrem(f"{prefix}:accounts:band:{band}", update.account_id)
                score = update.score if update.score is not None else -1.0
                pipe.zadd(f"{prefix}:accounts:band:{update.band}", {update.account_id: score})
                if update.score is None:
                    pipe.zrem(f"{prefix}:accounts:score", update.account_id)
                else:
                    pipe.zadd(f"{prefix}:accounts:score", {update.account_id: update.score})
            await pipe.execute()

    async def check(self) -> None:
        """Refresh this projection's marker; if it was gone, rewrite every owned view."""
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.exists(self._marker)
            pipe.set(self._marker, b"1", ex=MARKER_TTL_SECONDS)
            present, _ = await pipe.execute()
        if not present:
            self._lost = "at start" if self._lost == "at start" or not self._checked else "lost"
        self._checked = True
        if not self._lost or self.rebuild is None:
            return
        rewritten = await self.rebuild()
        if rewritten is None:
            return  # the worker is not ready: asked again at the next check
        self._metrics.redis_view_rebuilds.inc()
        self._metrics.redis_views_rebuilt.inc(rewritten)
        if self._lost == "at start":
            log.info("Redis account view: rewrote %d account views at start", rewritten)
        else:
            log.warning(
                "Redis account view: found empty (Redis restarted or flushed); "
                "rewrote %d account views from the store",
                rewritten,
            )
        self._lost = ""

    def _observe(self) -> None:
        self._metrics.redis_pending.set(len(self._pending))
        oldest = min((since for _, since in self._pending.values()), default=None)
        self._metrics.redis_lag.set(0.0 if oldest is None else time.monotonic() - oldest)

    async def run(self) -> None:
        """Flush until cancelled, backing off while Redis fails."""
        while True:
            delay = self._flush_interval
            try:
                while await self.flush() == self._max_batch:
                    pass
                if time.monotonic() >= self._next_check:
                    self._next_check = time.monotonic() + self._check_every
                    await self.check()
                if self._failures:
                    log.warning(
                        "Redis account view: writes recovered after %d failures", self._failures
                    )
                self._failures = 0
            except (RedisError, OSError) as exc:
                self._failures += 1
                self._metrics.redis_write_errors.inc()
                delay = min(self._max_backoff, self._flush_interval * 2**self._failures)
                if self._failures == 1 or self._failures % 20 == 0:
                    log.warning(
                        "Redis account view: write failed (%d in a row, %d views pending): %r",
                        self._failures,
                        len(self._pending),
                        exc,
                    )
            self._observe()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)


async def read_account(
    client: aioredis.Redis, account_id: str, prefix: str = "pulse"
) -> bytes | None:
    """The stored view document of one account, or None."""
    value: Any = await client.get(f"{prefix}:account:{account_id}")
    return bytes(value) if value is not None else None


async def list_accounts(
    client: aioredis.Redis, band: str | None, limit: int, prefix: str = "pulse"
) -> list[tuple[str, float | None]]:
    """Accounts worst first: all scored accounts, or one band's."""
    key = f"{prefix}:accounts:band:{band}" if band else f"{prefix}:accounts:score"
    rows: Any = await client.zrange(key, 0, limit - 1, withscores=True)
    return [(bytes(member).decode(), None if score < 0 else float(score)) for member, score in rows]
