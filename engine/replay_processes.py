"""A replay across processes: every core of the machine on one backtest.

Accounts are independent once attributed, so ``signals.replay`` can run as shards
(``Shard``): each process reads every event and attributes it, but applies only the
accounts it owns; of a sorted file, it does not even decode the other accounts' events
that go straight to their account (``SortedEventFile.for_shard``). Then
``signals.replay.merge`` puts the shards' outputs back in the order one process would
have given them. The same input gives the same triggers, in the same order, with any
number of processes (``tests/engine/test_replay_processes.py``).

This process runs the first shard and forks one process for each other
(``engine.forked``), so they share the sorted input (``engine.event_file``, or any
re-iterable of events) and the configuration without copying them; each sends back its
outputs and its accounts' states (as state bytes). Where fork does not exist, or with
one process, the replay runs in this process alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, cast

from engine.event_file import SortedEventFile
from engine.forked import can_fork, run_forked
from signals.config import SignalsConfig
from signals.replay import ReplayResult, Shard, ShardResult, merge, replay, replay_shard
from signals.rules import RuleSet
from signals.state import AccountState
from topics.models import InputEvent


def replay_in_processes(
    events: Iterable[tuple[str, InputEvent]],
    config: SignalsConfig,
    rules: RuleSet,
    *,
    processes: int,
    tick_every: timedelta | None = None,
    until: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
    presorted: int | None = None,
) -> ReplayResult:
    """``signals.replay.replay`` split over ``processes`` forked processes.

    ``events`` must be iterable more than once (each process reads it whole), as an
    ``engine.event_file.SortedEventFile`` or a list is. ``progress`` is reported by the
    first process only."""
    if processes < 1:
        msg = f"processes must be at least 1, not {processes}"
        raise ValueError(msg)
    if processes == 1 or not can_fork():
        return replay(
            events,
            config,
            rules,
            tick_every,
            until=until,
            progress=progress,
            presorted=presorted,
        )

    def shard(index: int) -> ShardResult:
        own = Shard(index, processes)
        return replay_shard(
            events.for_shard(own.owns)
            if isinstance(events, SortedEventFile) and presorted is not None
            else events,
            config,
            rules,
            own,
            tick_every,
            until=until,
            progress=progress if index == 0 else None,
            presorted=presorted,
        )

    def portable(index: int) -> Callable[[], tuple[ShardResult, dict[str, bytes]]]:
        return lambda: _portable(shard(index))

    mine, *others = run_forked([lambda: shard(0), *(portable(i) for i in range(1, processes))])
    return merge([cast(ShardResult, mine), *(_restored(cast(Any, other)) for other in others)])


def _portable(shard: ShardResult) -> tuple[ShardResult, dict[str, bytes]]:
    """The shard without its states' caches: states travel as their bytes."""
    states = {account: state.to_bytes() for account, state in shard.result.states.items()}
    shard.result.states.clear()
    return shard, states


def _restored(received: tuple[ShardResult, dict[str, bytes]]) -> ShardResult:
    shard, states = received
    shard.result.states.update(
        (account, AccountState.from_bytes(data)) for account, data in states.items()
    )
    return shard
