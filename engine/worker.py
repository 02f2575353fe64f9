"""The Pulse worker: faust agents that keep account state and publish triggers.

Data flow (every topic has the same partition count, so partition p of each is
owned by one worker, with the account state of the accounts hashed to p):

- input topics -> ``accounts`` agent: decode (bad -> dead letter), apply the
  signals core to the account's state, publish triggers and health;
- a message keyed or partitioned other than by its account (a producer with
  another partitioner, a missing key) is re-keyed through an internal topic
  first, so one account's state never splits across partitions;
- user-only usage events and group calls -> ``users`` agent, which keeps the
  user -> account links, parks events of unknown users for a bounded time,
  and forwards resolved events to the internal account topic;
- absence and calendar rules run on clock ticks: event time crossing a tick
  boundary (event clock), or a timer (wall clock).

With the event clock, the re-keying and user-resolution detours carry event-time
watermarks as well as events: every sender (each accounts and users partition)
announces how far it has got on every partition of the internal topic it writes,
and a reader's clock never passes the lowest announcement it has heard (as
watermarks cross a shuffle in Flink). So a backlog waiting in the detour holds
the clock back instead of arriving late.

The accounts agent takes messages in batches (engine.transport.batches: up to
BATCH_MESSAGES, or what arrived within BATCH_SECONDS) and writes each changed
account's state to its table once per commit window (PULSE_COMMIT_INTERVAL_SECONDS,
engine.runtime.checkpoint), not once per event or batch: the encoded state and its
changelog message were most of a worker's cost. A window's input offsets are
acknowledged only after its outputs and those writes are settled; the window closes
early before a rebalance and at shutdown (``on_agents_idle``).

What each agent does with a batch is engine.runtime.pipeline's, the same object the
in-memory harness drives in tests (tests/engine/memory.py); this module wires it to
faust: the app, its agents and timers, rebalances, and the commit window.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import faust
from faust.types import TP
from prometheus_client import CollectorRegistry

from engine.metrics import Metrics
from engine.runtime.checkpoint import Checkpoint
from engine.runtime.clock import CLOCK_NUDGE_SECONDS
from engine.runtime.pipeline import Pipeline, Ports, internal_topics
from engine.runtime.views import rewrite_views
from engine.settings import Settings
from engine.signals_files import read_config, read_rules
from engine.transport.app import build_app
from engine.transport.batches import InputBatches
from engine.transport.clients import Clients, ConsumerOffsets
from engine.transport.delivery import bind_event, fresh, tracked_table
from engine.transport.faust_app import InputTopic
from engine.transport.inorder import InOrder
from engine.transport.watchdogs import Watchdogs, readiness
from engine.verify import event_clock_config
from signals.core import SignalProcessor

log = logging.getLogger(__name__)

_RAW: dict[str, Any] = {
    "key_type": bytes,
    "value_type": bytes,
    "key_serializer": "raw",
    "value_serializer": "raw",
}
AGENTS = ("accounts", "users")
LAG_SECONDS = 10.0
"""How often the worker reports its consumer lag (pulse_consumer_lag_messages)."""
STRANDED_CHECK_SECONDS = 1.0
"""How often the worker looks for partitions stranded below their end
(engine.transport.inorder)."""


class PulseWorker:
    """Builds the faust app and runs the runtime's pipeline (engine.runtime.pipeline) in
    its agents."""

    def __init__(self, settings: Settings, registry: CollectorRegistry | None = None) -> None:
        self.settings = settings
        config = read_config(settings.signals_config_file)
        if settings.clock == "event":
            # Hold each event until the clock passes it, so topics read side by side
            # are applied in event-time order (engine.runtime.accounts, ``now``).
            config = event_clock_config(config)
        self.config = config
        self.processor = SignalProcessor(self.config, read_rules(settings.rules_file))
        self.registry = registry or CollectorRegistry()
        self.metrics = Metrics(self.registry)
        self.metrics.start_at_zero(rule.id for rule in self.processor.rules.rules)
        self.partitions = settings.topic_partitions
        self.app = build_app(settings, self.registry)
        self.clients = Clients(settings)
        self._in_order = InOrder(self.clients.start_offsets)
        self.app.committable = self._in_order.committable
        self.pipeline = Pipeline(
            settings, config, self.processor, self.metrics, self._ports(), monotonic=time.monotonic
        )
        p = self.pipeline
        self.internal_topics, self.input_kinds = p.internal_topics, p.input_kinds
        self.publisher, self.states, self.store = p.publisher, p.states, p.store
        self.clock, self.users, self.accounts = p.clock, p.users, p.accounts
        self.batches = InputBatches(self.app, self._in_order, self.clients, self.metrics)
        self.watchdogs = Watchdogs(
            self.app,
            self.clients,
            self.metrics,
            self._in_order,
            self.batches,
            sources=lambda: {*self.input_kinds, *self.internal_topics},
            agents=len(AGENTS),
        )
        self._wire_agents_and_timers()

    # -- construction -----------------------------------------------------------------

    def _ports(self) -> Ports:
        """The pipeline's topics and tables are faust's; the users detour is read as well
        as written, so it is an input topic (engine.transport.faust_app)."""
        app = self.app
        user_events = internal_topics(self.settings)[1]
        topics: dict[str, Any] = {user_events: InputTopic(app, topics=[user_events], **_RAW)}

        def topic(name: str) -> Any:
            if name not in topics:
                topics[name] = app.topic(name, **_RAW)
            return topics[name]

        return Ports(
            topic=topic,
            table=lambda name: tracked_table(app, name, self.partitions),
            offsets=ConsumerOffsets(lambda: self.app.consumer, self.clients),
            bind=bind_event,
        )

    def _wire_agents_and_timers(self) -> None:
        app, s = self.app, self.settings
        # One agent reads every account-keyed topic, so one account's state is never
        # loaded by two coroutines at once (faust runs agents concurrently).
        # The agents' topics keep their queues when flow control resumes
        # (engine.transport.faust_app).
        sources = InputTopic(app, topics=self.pipeline.account_sources, **_RAW)
        app.agent(sources, name="accounts")(self._accounts_agent)
        app.agent(self.pipeline.user_events, name="users")(self._users_agent)
        nudge = s.tick_check_seconds if s.clock == "wall" else CLOCK_NUDGE_SECONDS
        app.timer(nudge)(self._send_ticks)
        app.timer(LAG_SECONDS)(self.watchdogs.report_lag)
        app.timer(STRANDED_CHECK_SECONDS)(self.watchdogs.unstrand)
        if s.commit_interval_seconds > 0:  # 0: every batch commits, none stays open
            app.timer(s.commit_interval_seconds)(self._close_due_commit_window)
        self.metrics.accounts_in_state.set_function(lambda: float(self.store.accounts))
        self.metrics.worker_ready.set_function(lambda: float(self.readiness()["ready"]))
        self.metrics.worker_recovering.set_function(lambda: float(self.readiness()["recovering"]))
        app.on_partitions_revoked.connect(self._on_revoked)  # type: ignore[arg-type]
        app.on_partitions_assigned.connect(self._on_assigned)  # type: ignore[arg-type]
        self._lookups: set[asyncio.Task[None]] = set()
        """Cursor lookups started on assignment (``_on_assigned``)."""
        app.on_before_shutdown.connect(self._close_clients)
        self._commits: Checkpoint | None = None
        """The accounts agent's commits, closed by ``_close_commit_window``."""
        app.on_agents_idle = self._close_commit_window

    def readiness(self) -> dict[str, bool]:
        """Ready: partitions assigned, no rebalance under way, table recovery finished."""
        return readiness(self.app)

    async def _close_clients(self, *args: Any, **kwargs: Any) -> None:
        """Stop the clients the worker started beside faust's (faust's consumer is gone)."""
        for lookup in self._lookups:
            lookup.cancel()
        await self.clients.close()

    async def _on_assigned(
        self, sender: Any, assigned: Any, *args: Any, signal: Any, **kwargs: Any
    ) -> None:
        """Look up where the partitions' cursors start while the tables recover, so the
        first records need not wait for it: on a fresh worker the admin client, the
        group's committed offsets and the first offsets took 1.2 s, which the first
        events' latency carried. A lookup that spans a revocation is thrown away
        (``InOrder.start``); the first record looks up whatever is still missing."""
        lookup = asyncio.ensure_future(self._look_up_cursors(set(assigned)))
        self._lookups.add(lookup)
        lookup.add_done_callback(self._lookups.discard)

    async def _look_up_cursors(self, tps: set[TP]) -> None:
        try:
            await self._in_order.start(tps)
        except Exception as exc:  # noqa: BLE001 - the agents look them up again
            log.warning("looking up %d partitions' starting offsets: %r", len(tps), exc)

    async def _on_revoked(self, sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Forget per-partition memory; it is rebuilt from the tables when needed."""
        self._in_order.forget()
        self.metrics.consumer_lag.clear()
        self.metrics.event_clock.clear()
        self.pipeline.forget()

    # -- agents -----------------------------------------------------------------------

    async def _accounts_agent(self, stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        # One Checkpoint for the worker's life: faust restarts an agent that crashed,
        # and the store still holds the window it had not committed, whose outputs the
        # same deliveries must settle before those states are written.
        checkpoint = self._commits
        if checkpoint is None:
            checkpoint = self._commits = Checkpoint(
                fresh(),
                self._in_order,
                self.store,
                interval=self.settings.commit_interval_seconds,
                max_changed=self.settings.state_cache_accounts,
            )
        else:
            fresh(checkpoint.sent)
        async for events, done in self.batches.of("accounts", stream):
            async with checkpoint.handling():
                await self.pipeline.accounts_batch(events)
                await checkpoint.commit(events, done)  # then faust acknowledges the batch
            yield None

    async def _close_commit_window(self) -> None:
        """The agents finished their batches before a revocation or a stop: commit what
        the accounts agent has not committed yet (engine.runtime.checkpoint)."""
        if self._commits is not None:
            await self._commits.close()

    async def _close_due_commit_window(self) -> None:
        """Input stopped with a window open: commit it once it is due, so the group's
        lag reaches zero and a restart does not read it again."""
        if self._commits is not None:
            await self._commits.close_if_due()

    async def _users_agent(self, stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        checkpoint = Checkpoint(fresh(), self._in_order)
        async for events, done in self.batches.of("users", stream):
            await self.pipeline.users_batch(events)
            await checkpoint.commit(events, done)
            yield None

    def _owned(self) -> set[int]:
        """The partitions of the accounts agent this worker owns now."""
        return {
            tp.partition for tp in self.app.consumer.assignment() if tp.topic in self.input_kinds
        }

    def _owns(self, partition: int) -> bool:
        return partition in self._owned()

    async def rebuild_views(self) -> int | None:
        """Submit the Redis view of every account this worker owns, from its store
        (engine.redis_view: Redis came back empty); None when not ready to."""
        view_sink = self.publisher.view_sink
        if view_sink is None or not self.readiness()["ready"]:
            return None
        written = 0
        for partition in sorted(self._owned()):
            done = await rewrite_views(
                sorted(self.store.accounts_in(partition)),
                functools.partial(self.store.peek, partition=partition),
                view_sink.submit,
                owned=functools.partial(self._owns, partition),
            )
            if done is None:
                return None
            written += done
        return written

    async def _send_ticks(self) -> None:
        """Nudge every partition this worker owns so its agent checks the clock.

        Without traffic the wall clock would never tick, and an event clock held back
        by a topic that went quiet would never move.
        """
        assigned = self.app.consumer.assignment()
        for (agent, partition), clock_us in self.clock.clocks.items():
            gauge = self.metrics.event_clock.labels(agent=agent, partition=str(partition))
            gauge.set(max(clock_us, 0) / 1e6)
        for tp in assigned:
            if tp.topic == self.internal_topics[2]:
                await self.pipeline.ticks.send(key=None, value=b"tick", partition=tp.partition)
