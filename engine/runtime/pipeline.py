"""A worker's runtime without its transport: the parts wired, and one batch of each agent.

The worker (engine.worker) runs this over faust and Kafka; tests run the very same
object over an in-memory broker (tests/engine/memory.py), as Kafka Streams'
``TopologyTestDriver`` runs a topology without one. What the transport provides is
``Ports``: topics to produce to, tables, and what the broker says about offsets.

Every message is handled inside a try: an exception dead-letters that message with the
reason and the agent goes on (faust acknowledges a message whose handler raised, so
letting it escape would silently drop it). The failed message's accounts roll back to
their last written state, and their earlier messages since the last commit are
dead-lettered too, so nothing is lost unseen. Committing (engine.runtime.checkpoint)
is the agent's, after ``accounts_batch`` or ``users_batch``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from engine.metrics import Metrics
from engine.runtime.accounts import AccountPath
from engine.runtime.event_clock import EventClock, Offsets
from engine.runtime.publisher import OUTPUT_KINDS, Publisher
from engine.runtime.store import AccountStore
from engine.runtime.users import UserDirectory
from engine.settings import Settings
from signals.config import SignalsConfig
from signals.core import SignalProcessor
from signals.driver import AccountDriver, TickSchedule
from topics.catalogue import INPUT_KINDS, TopicKind, topic_name

log = logging.getLogger(__name__)

STATE_TABLE = "account-state"
"""The account-state table (its changelog: engine.verify.changelog_topic)."""
LINKS_TABLE = "user-links"
PARKED_TABLE = "user-parked"


def internal_topics(settings: Settings) -> tuple[str, str, str]:
    """Account re-keying, user resolution and clock ticks; created by the runner."""
    app_id = settings.app_id
    return (f"{app_id}-account-events", f"{app_id}-user-events", f"{app_id}-ticks")


@dataclass(frozen=True)
class Ports:
    """What the runtime needs of a transport."""

    topic: Callable[[str], Any]
    """A topic by name, to produce to: ``await topic.send(key=, value=, partition=,
    headers=)`` returns an awaitable that settles when the broker acknowledged it."""
    table: Callable[[str], Any]
    """A table by name (engine.transport.delivery.TrackedTable's interface)."""
    offsets: Offsets
    bind: Callable[[Any], None]
    """Make an event the one whose partition plain table access (the users tables)
    reads and writes."""


class Pipeline:
    """The account and user paths of one worker, built over ``ports``."""

    def __init__(
        self,
        settings: Settings,
        config: SignalsConfig,
        processor: SignalProcessor,
        metrics: Metrics,
        ports: Ports,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings, self.processor, self.metrics = settings, processor, metrics
        s, partitions = settings, settings.topic_partitions
        # Ticks, user links and health publication, as the replay does them.
        self.driver = AccountDriver(processor, TickSchedule(config.tick_every))
        self.input_kinds = {topic_name(kind, s.topic_prefix): kind for kind in INPUT_KINDS}
        self.internal_topics = internal_topics(s)
        self.account_events, self.user_events, self.ticks = map(ports.topic, self.internal_topics)
        self.bind = ports.bind
        self.outputs = {k: ports.topic(topic_name(k, s.topic_prefix)) for k in OUTPUT_KINDS}
        self.publisher = Publisher(
            self.outputs,
            processor,
            metrics,
            publish_points=s.health_publish_points,
            keep_bytes=s.max_message_bytes,
        )
        self.states = ports.table(STATE_TABLE)
        self.store = AccountStore(self.states, partitions, s.state_cache_accounts)
        self.users = UserDirectory(
            ports.table(LINKS_TABLE),
            ports.table(PARKED_TABLE),
            self.publisher,
            self.account_events,
            partitions=partitions,
            park_us=int(s.user_park_seconds * 1_000_000),
            wall_clock=s.clock == "wall",
            max_bytes=s.max_message_bytes,
            stripe=s.stripe_options,
        )
        self.clock = self._event_clock(ports.offsets, monotonic)
        self.accounts = AccountPath(
            s,
            processor,
            self.driver,
            self.store,
            self.publisher,
            clock=self.clock,
            metrics=metrics,
            input_kinds=self.input_kinds,
            ticks_topic=self.internal_topics[2],
            account_events=self.account_events,
            user_events=self.user_events,
        )

    def _event_clock(self, offsets: Offsets, monotonic: Callable[[], float]) -> EventClock:
        """Each agent partition's clock: which topics move it, which detours carry
        watermarks, who announces to whom."""
        partitions = self.settings.topic_partitions
        accounts = [f"accounts:{p}" for p in range(partitions)]
        return EventClock(
            offsets,
            self.store,
            # Commands do not move time: a CSM's snooze given today must not carry the
            # clock past a backlog of older events. They wait for the data's clock.
            sources={
                "accounts": tuple(
                    t for t, kind in self.input_kinds.items() if kind is not TopicKind.COMMANDS
                ),
                "users": (),
            },
            detours={"accounts": {self.internal_topics[0]}, "users": {self.internal_topics[1]}},
            senders={
                "accounts": [*accounts, *(f"users:{p}" for p in range(partitions))],
                "users": accounts,
            },
            announce_to={
                "accounts": (self.user_events, self.account_events),
                "users": (self.account_events,),
            },
            partitions=partitions,
            monotonic=monotonic,
        )

    @property
    def account_sources(self) -> list[str]:
        """What the accounts agent reads: every account-keyed input, re-keying, ticks."""
        return [*self.input_kinds, self.internal_topics[0], self.internal_topics[2]]

    def forget(self) -> None:
        """Partitions were revoked: per-partition memory is rebuilt from the tables."""
        self.store.forget()
        self.clock.forget()
        self.users.forget()
        self.accounts.forget()

    # -- one batch of each agent ------------------------------------------------------

    async def accounts_batch(self, events: Sequence[Any]) -> None:
        """Handle a batch of the accounts agent (events: ``.message``, ``.key``,
        ``.value``); its changes wait in the store until the checkpoint flushes them."""
        for event in events:
            self.store.begin(event)
            if await self._guarded(event, self.accounts.on_message):
                self.store.keep()
            else:
                await self._roll_back(event)

    async def users_batch(self, events: Sequence[Any]) -> None:
        for event in events:
            self.bind(event)  # the tables' partition
            await self._guarded(event, self._on_user_message)

    async def _roll_back(self, failed: Any) -> None:
        """Forget what the failed message did to its accounts (they reload from the table,
        as of the last batch) and dead-letter the batch's earlier messages for them."""
        for event in self.store.roll_back():
            message = event.message
            if self.accounts.is_clock_message(message):
                continue
            reason = (
                "rolled back: a later message for the same account "
                f"({failed.message.topic}[{failed.message.partition}]@{failed.message.offset}) "
                "failed before the next commit; this one was applied, then undone"
            )
            await self.publisher.dead_letter(message, event.key, event.value, "internal", reason)

    async def _guarded(self, event: Any, handler: Any) -> bool:
        """Handle one message; on any error dead-letter it with the reason and go on."""
        message = event.message
        try:
            await handler(message, event.key, event.value)
        except Exception as exc:
            log.exception(
                "internal error on %s[%d]@%d", message.topic, message.partition, message.offset
            )
            try:
                await self.publisher.dead_letter(
                    message, event.key, event.value, "internal", repr(exc)
                )
            except Exception:  # the agent must live on: the message stays in its topic
                log.exception(
                    "could not dead-letter %s[%d]@%d; it is left where it is",
                    message.topic,
                    message.partition,
                    message.offset,
                )
                self.metrics.invalid_events.labels(reason="dead_letter_failed").inc()
            return False
        return True

    async def _on_user_message(self, message: Any, key: bytes | None, value: bytes) -> None:
        """Link users to accounts; forward resolved usage, park the rest for a while."""
        wall = datetime.now(UTC)
        if not self.clock.hear("users", message):
            await self.users.receive(message, value, wall)
        now = await self.accounts.now(("users", message.partition), wall)
        await self.users.expire(message.partition, now)
