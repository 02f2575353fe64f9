"""A batch's commit, in the one order that never loses anything.

1. The batch's outputs (triggers, health, dead letters, forwards) are acknowledged
   by the broker.
2. The states that record those outputs as sent are written to their table.
3. The state changelog is acknowledged by the broker.
4. The batch's input offsets may be committed (faust commits them on its next
   commit, after the agent asks for the next batch).

A crash between two steps repeats work and never leaves a state ahead of what went
out, nor input committed whose outputs were lost (Quix Streams' ``Checkpoint.commit``
makes the same promise). If the broker refuses something the batch produced, the
worker exits at once, before step 4: faust would acknowledge the batch on the way
out, and restarted, the worker reads it again.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, Protocol

from engine.transport.delivery import Deliveries, DeliveryFailed
from engine.transport.inorder import InOrder

log = logging.getLogger(__name__)

EXIT_UNDELIVERED = 75
"""Exit code of a worker that stopped because the broker refused its output (EX_TEMPFAIL:
restart it; it reads the unacknowledged input again)."""


class Flushable(Protocol):
    def flush(self) -> None: ...


def _exit_now(code: int) -> NoReturn:
    logging.shutdown()
    os._exit(code)


class Checkpoint:
    """Commits an agent's batches: ``commit(messages, offsets)`` after each."""

    def __init__(
        self,
        sent: Deliveries,
        in_order: InOrder,
        store: Flushable | None = None,
        *,
        exit_now: Callable[[int], NoReturn] = _exit_now,
    ) -> None:
        self.sent = sent
        self.in_order = in_order
        self.store = store
        self.exit_now = exit_now

    async def commit(self, messages: Sequence[Any], offsets: dict[Any, int]) -> None:
        await self.settle(messages)  # 1. outputs
        if self.store is not None:
            self.store.flush()  # 2. states
            await self.settle(messages)  # 3. changelog
        self.in_order.settled(offsets)  # 4. input offsets

    async def settle(self, messages: Sequence[Any] = ()) -> None:
        await settle_or_exit(self.sent, messages, self.exit_now)


async def settle_or_exit(
    sent: Deliveries,
    messages: Sequence[Any] = (),
    exit_now: Callable[[int], NoReturn] = _exit_now,
) -> None:
    """Wait until the broker acknowledged what was produced; exit if it refused some
    (``messages``: the batch, named in the log)."""
    try:
        await sent.settle()
    except DeliveryFailed as exc:
        first = messages[0].message if messages else None
        where = f" (batch from {first.topic}[{first.partition}]@{first.offset})" if first else ""
        log.critical("exiting without acknowledging input%s: %s", where, exc)
        exit_now(EXIT_UNDELIVERED)
