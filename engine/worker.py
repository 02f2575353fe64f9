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
account's state to its
table once per batch, not once per event: the encoded state and its changelog
message were most of a worker's cost. The batch is acknowledged only after
those writes.

Every message is handled inside a try: an exception dead-letters that message
with the reason and the worker goes on (faust acknowledges a message whose
handler raised, so letting it escape would silently drop it). The failed
message's accounts roll back to their last written state, and the batch's
earlier messages for them are dead-lettered too, so nothing is lost unseen.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import weakref
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import faust
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from faust.sensors.prometheus import setup_prometheus_sensors
from faust.streams import _current_event
from faust.types import TP
from prometheus_client import CollectorRegistry

from engine.delivery import TrackedTable, fresh
from engine.envelope import Published
from engine.faust_app import InputTopic, PulseApp, committed_offset, highwater
from engine.inorder import InOrder
from engine.kafka import faust_credentials
from engine.metrics import Metrics
from engine.routing import partition_for
from engine.runtime.checkpoint import Checkpoint
from engine.runtime.clock import CLOCK_NUDGE_SECONDS
from engine.runtime.event_clock import WATERMARK_HEADER, EventClock
from engine.runtime.publisher import OUTPUT_KINDS, Publisher, origin_header, origin_text, send
from engine.runtime.store import AccountStore
from engine.runtime.users import UserDirectory
from engine.runtime.views import rewrite_views
from engine.settings import Settings
from engine.signals_files import read_config, read_rules
from engine.transport.batches import InputBatches
from engine.transport.clients import BROKER_ERRORS, Clients
from signals.core import SignalProcessor
from signals.driver import AccountDriver, TickSchedule
from signals.ingest import AccountEvent
from signals.state import EPOCH, AccountState, micros
from topics.catalogue import INPUT_KINDS, TopicKind, topic_name
from topics.codec import decode_input, encode_key
from topics.errors import PulseIgnored, PulseValidationError
from topics.models import UserLink

log = logging.getLogger(__name__)

KIND_HEADER = "pulse-kind"
_RAW: dict[str, Any] = {
    "key_type": bytes,
    "value_type": bytes,
    "key_serializer": "raw",
    "value_serializer": "raw",
}


_MICROSECOND = timedelta(microseconds=1)
AGENTS = ("accounts", "users")
_NEVER = 2**63
STREAM_BUFFER = 1024
FETCH_BYTES = 128 * 1024
POLL_RECORDS = 500
LAG_SECONDS = 10.0
"""How often the worker reports its consumer lag (pulse_consumer_lag_messages)."""
STRANDED_CHECK_SECONDS = 1.0
"""How often the worker looks for partitions stranded below their end (engine.inorder)."""


class PulseWorker:
    """Builds the faust app and holds the per-message logic its agents run."""

    def __init__(self, settings: Settings, registry: CollectorRegistry | None = None) -> None:
        self.settings = settings
        config = read_config(settings.signals_config_file)
        if settings.clock == "event" and not config.reorder_window:
            # Hold each event until the clock passes it, so topics read side by side
            # are applied in event-time order (see _now).
            config = config.model_copy(update={"reorder_window": _MICROSECOND})
        self.config = config
        self.processor = SignalProcessor(self.config, read_rules(settings.rules_file))
        self.registry = registry or CollectorRegistry()
        self.metrics = Metrics(self.registry)
        self.metrics.start_at_zero(rule.id for rule in self.processor.rules.rules)
        # Ticks, user links and health publication, as the replay does them.
        self.driver = AccountDriver(self.processor, TickSchedule(self.config.tick_every))
        self.max_future_skew = timedelta(seconds=settings.max_future_skew_seconds)
        self.park_us = int(settings.user_park_seconds * 1_000_000)
        self.partitions = settings.topic_partitions
        self.app = self._build_app()
        self.clients = Clients(settings)
        self._in_order = InOrder(self._start_offsets)
        self.batches = InputBatches(self.app, self._in_order, self.clients, self.metrics)
        self._swept: dict[int, int] = {}
        """partition -> last tick boundary swept (µs); in memory, since ticks are per account"""
        self._wire()

    # -- construction -----------------------------------------------------------------

    @property
    def internal_topics(self) -> tuple[str, str, str]:
        """Account re-keying, user resolution and clock ticks; created by the runner."""
        app_id = self.settings.app_id
        return (f"{app_id}-account-events", f"{app_id}-user-events", f"{app_id}-ticks")

    def _build_app(self) -> faust.App:
        s = self.settings
        app = PulseApp(
            s.app_id,
            broker=[f"kafka://{server}" for server in s.kafka_bootstrap.split(",")],
            broker_credentials=faust_credentials(s),
            store=s.store,
            datadir=str(s.data_dir),
            topic_partitions=self.partitions,
            topic_replication_factor=s.topic_replication_factor,
            table_standby_replicas=s.table_standby_replicas,
            web_enabled=True,
            web_host=s.web_host,
            web_port=s.web_port,
            web_bind=s.web_host,
            web_tables_enabled=False,
            # A short queue between the fetcher and the agent: with the event clock, a
            # watermark announced on an internal topic waits behind everything queued
            # (faust's default, 4,096 per agent plus whole fetches, held the clock
            # tens of seconds behind on a backlog).
            stream_buffer_maxsize=STREAM_BUFFER,
            broker_max_poll_records=POLL_RECORDS,
            producer_max_request_size=2 * s.max_message_bytes + 65536,
            # Small fetches per partition, so that topics read side by side interleave
            # (a 2 MB fetch of the usage topic starved the others for seconds, holding
            # the event clock); the broker still returns a larger message whole (KIP-74).
            consumer_max_fetch_size=FETCH_BYTES,
        )
        setup_prometheus_sensors(app, pattern="/metrics", registry=self.registry)
        return app

    def _wire(self) -> None:
        app, s = self.app, self.settings
        cast(PulseApp, app).committable = self._in_order.committable
        self.input_kinds = {topic_name(kind, s.topic_prefix): kind for kind in INPUT_KINDS}
        self.account_events = app.topic(self.internal_topics[0], **_RAW)
        self.user_events = InputTopic(app, topics=[self.internal_topics[1]], **_RAW)
        self.ticks = app.topic(self.internal_topics[2], **_RAW)
        self.outputs = {
            kind: app.topic(topic_name(kind, s.topic_prefix), **_RAW) for kind in OUTPUT_KINDS
        }
        self.publisher = Publisher(
            self.outputs,
            self.processor,
            self.metrics,
            publish_points=s.health_publish_points,
            keep_bytes=s.max_message_bytes,
        )
        self.states = self._table("account-state")
        self.store = AccountStore(self.states, self.partitions, s.state_cache_accounts)
        self.links = self._table("user-links")
        self.parked = self._table("user-parked")
        self.users = UserDirectory(
            self.links,
            self.parked,
            self.publisher,
            self.account_events,
            partitions=self.partitions,
            park_us=self.park_us,
            wall_clock=s.clock == "wall",
            max_bytes=s.max_message_bytes,
            headers=self._headers(TopicKind.USAGE),
        )
        # One agent reads every account-keyed topic, so one account's state is never
        # loaded by two coroutines at once (faust runs agents concurrently).
        accounts = [f"accounts:{p}" for p in range(self.partitions)]
        self.clock = EventClock(
            lambda: self.app.consumer,
            self.clients,
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
                "accounts": [*accounts, *(f"users:{p}" for p in range(self.partitions))],
                "users": accounts,
            },
            announce_to={
                "accounts": (self.user_events, self.account_events),
                "users": (self.account_events,),
            },
            partitions=self.partitions,
        )
        # The agents' topics keep their queues when flow control resumes (engine.faust_app).
        sources = InputTopic(app, topics=[*self.input_kinds, *self.internal_topics[::2]], **_RAW)
        app.agent(sources, name="accounts")(self._accounts_agent)
        app.agent(self.user_events, name="users")(self._users_agent)
        nudge = s.tick_check_seconds if s.clock == "wall" else CLOCK_NUDGE_SECONDS
        app.timer(nudge)(self._send_ticks)
        app.timer(LAG_SECONDS)(self._report_lag)
        app.timer(STRANDED_CHECK_SECONDS)(self._unstrand)
        self.metrics.accounts_in_state.set_function(lambda: float(self.store.accounts))
        self.metrics.worker_ready.set_function(lambda: float(self.readiness()["ready"]))
        self.metrics.worker_recovering.set_function(lambda: float(self.readiness()["recovering"]))
        app.on_partitions_revoked.connect(self._on_revoked)  # type: ignore[arg-type]
        app.on_partitions_assigned.connect(self._on_assigned)  # type: ignore[arg-type]
        self._lookups: set[asyncio.Task[None]] = set()
        """Cursor lookups started on assignment (``_on_assigned``)."""
        app.on_before_shutdown.connect(self._close_clients)

    def _table(self, name: str) -> TrackedTable:
        """A table whose changelog writes the writing agent waits for (engine.delivery);
        what ``app.Table`` does, with our table class."""
        app = self.app
        table = TrackedTable(
            app,
            name=name,
            default=None,
            beacon=app.tables.beacon,
            partitions=self.partitions,
            key_type=bytes,
            value_type=bytes,
        )
        return cast(TrackedTable, app.tables.add(table))

    def readiness(self) -> dict[str, bool]:
        """Ready: partitions assigned, no rebalance under way, table recovery finished."""
        app = self.app
        recovery = app.tables.recovery  # type: ignore[attr-defined]
        recovering = bool(recovery.in_recovery or not recovery.completed.is_set())
        assigned = bool(app.consumer.assignment()) if app.consumer else False
        ready = assigned and not app.rebalancing and not recovering
        return {"ready": ready, "rebalancing": bool(app.rebalancing), "recovering": recovering}

    async def _report_lag(self) -> None:
        """Messages after the committed offset on each source partition this worker owns
        (summing over workers gives the group's lag, with no partition counted twice)."""
        sources = {*self.input_kinds, *self.internal_topics}
        owned = sorted(tp for tp in self.app.consumer.assignment() if tp.topic in sources)
        if not owned:
            return
        try:
            ends = await (await self.clients.prober()).end_offsets(
                [TopicPartition(tp.topic, tp.partition) for tp in owned]
            )
        except BROKER_ERRORS as exc:  # the broker is away: try again next time
            log.warning("consumer lag not measured: %r", exc)
            return
        self.metrics.consumer_lag.clear()
        for tp in owned:
            end = ends.get(TopicPartition(tp.topic, tp.partition), 0)
            position = committed_offset(self.app.consumer, tp)  # the next offset to read
            lag = end if position is None else max(0, end - position)
            self.metrics.consumer_lag.labels(topic=tp.topic, partition=str(tp.partition)).set(lag)
        consumer = cast(Any, self.app.consumer)
        fetched = consumer._get_active_partitions()
        idle = [f"{tp.topic}[{tp.partition}]" for tp in owned if tp not in fetched]
        if idle and not self.app.in_recovery:  # recovery pauses them on purpose
            log.warning(
                "faust's consumer is not fetching %d owned partitions: %s (paused: %d)",
                len(idle),
                ", ".join(idle),
                len(consumer._paused_partitions),
            )

    async def _unstrand(self) -> None:
        """Seek the consumer back to the cursor of a partition whose last records it
        dropped with nothing after them to reveal the hole (engine.inorder.Stranded)."""
        app = self.app
        if app.in_recovery or not self.batches.waiting:
            return
        consumer = cast(Any, app.consumer)
        sources = {*self.input_kinds, *self.internal_topics}
        owned = [tp for tp in consumer.assignment() if tp.topic in sources]
        fetched = consumer._get_active_partitions()
        queues = list(self.batches.waiting.values())  # every agent waits, with nothing queued
        idle = len(queues) == len(AGENTS) and all(q is not None and q.empty() for q in queues)
        if idle and any(self._in_order.cursor(tp) is None for tp in owned):
            await self._in_order.start(owned)  # no record of theirs reached an agent yet
        now, stranded = time.monotonic(), self._in_order.stranded
        for tp in owned:
            cursor = self._in_order.cursor(tp)
            if cursor is None or tp not in fetched:
                continue  # revoked while we looked; or paused
            end = highwater(consumer, tp)
            verdict = stranded.check(tp, cursor, end, idle=idle, now=now)
            if verdict == "give up":
                log.error(
                    "%s[%d]: offsets %d to %d stay unread after %d seeks back; leaving "
                    "them (transaction markers, or records retention deleted?) until "
                    "more arrive",
                    tp.topic,
                    tp.partition,
                    cursor,
                    (end or 0) - 1,
                    stranded.seeks,
                )
            if verdict != "seek":
                continue
            log.warning(
                "%s[%d]: records from offset %d are on the broker but reached no agent in "
                "%.0f s; seeking back to read them",
                tp.topic,
                tp.partition,
                cursor,
                stranded.after,
            )
            self.metrics.input_stranded.labels(topic=tp.topic).inc()
            try:
                await consumer.seek_back(tp, cursor)
            except KafkaError as exc:  # not assigned any more: the next look decides
                log.warning("seeking %s[%d] back failed: %r", tp.topic, tp.partition, exc)

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
        self.store.forget()
        self.clock.forget()
        self.users.forget()
        self._swept.clear()

    # -- agents -----------------------------------------------------------------------

    async def _accounts_agent(self, stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        checkpoint = Checkpoint(fresh(), self._in_order, self.store)
        async for events, done in self.batches.of("accounts", stream):
            for event in events:
                self.store.begin(event)
                if await self._guarded(event, self._on_account_message):
                    self.store.keep()
                else:
                    await self._roll_back(event)
            await checkpoint.commit(events, done)  # then faust acknowledges the batch
            yield None

    async def _start_offsets(self, tps: list[TP]) -> dict[TP, int]:
        """Where each partition's cursor starts: the group's committed offset, or the
        partition's first offset when the group never committed one. Waits out a broker
        that is away (nothing can be processed or produced without it anyway)."""
        while True:
            try:
                admin = await self.clients.admin()
                committed = await admin.list_consumer_group_offsets(
                    self.settings.app_id, partitions=[TopicPartition(*tp) for tp in tps]
                )
                starts: dict[TP, int] = {}
                for tp in tps:
                    meta = committed.get(TopicPartition(*tp))
                    if meta is not None and meta.offset >= 0:
                        starts[tp] = meta.offset
                never = [TopicPartition(*tp) for tp in tps if tp not in starts]
                if never:
                    firsts = await (await self.clients.prober()).beginning_offsets(never)
                    starts.update({TP(t.topic, t.partition): o for t, o in firsts.items()})
                return starts
            except BROKER_ERRORS as exc:
                log.warning("committed offsets unknown, asking again in 1 s: %r", exc)
                await asyncio.sleep(1.0)

    async def _roll_back(self, failed: Any) -> None:
        """Forget what the failed message did to its accounts (they reload from the table,
        as of the last batch) and dead-letter the batch's earlier messages for them."""
        for event in self.store.roll_back():
            message = event.message
            if message.topic == self.ticks.get_topic_name() or any(
                header == WATERMARK_HEADER for header, _ in message.headers or ()
            ):
                continue
            reason = (
                f"rolled back: a later message of the same batch for the same account "
                f"({failed.message.topic}[{failed.message.partition}]@{failed.message.offset}) "
                "failed; this one was applied, then undone"
            )
            await self.publisher.dead_letter(message, event.key, event.value, "internal", reason)

    async def _users_agent(self, stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        checkpoint = Checkpoint(fresh(), self._in_order)
        async for events, done in self.batches.of("users", stream):
            for event in events:
                _current_event.set(weakref.ref(event))  # the tables' partition
                await self._guarded(event, self._on_user_message)
            await checkpoint.commit(events, done)
            yield None

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

    # -- account path -----------------------------------------------------------------

    async def _on_account_message(self, message: Any, key: bytes | None, value: bytes) -> None:
        wall = datetime.now(UTC)
        if message.topic == self.ticks.get_topic_name() or self.clock.hear("accounts", message):
            now = await self._now(("accounts", message.partition), wall)
            await self._advance_clock(message.partition, now)
            return
        if self.settings.clock == "event":
            await self._now(("accounts", message.partition), wall, message)  # count it as read
        kind = self._kind_of(message)
        self.publisher.count_in(kind.value, "received")
        try:
            model = decode_input(
                kind,
                value,
                max_bytes=self.settings.max_message_bytes,
                now=wall,  # also under the event clock: nothing may come from the future
                max_future_skew=self.max_future_skew,
                stripe=self.settings.stripe_options,
            )
        except PulseValidationError as exc:
            await self.publisher.dead_letter(message, key, value, "validation", str(exc))
            return
        except PulseIgnored as exc:
            self.publisher.ignore(kind.value, exc)
            return
        if isinstance(model, UserLink) or model.account_id is None:
            await send(
                self.user_events,
                key=encode_key(str(model.user_id)),
                value=value,
                headers=[*self._headers(kind), origin_header(message)],
            )
            return
        account = encode_key(model.account_id)
        if key != account or message.partition != partition_for(account, self.partitions):
            await send(
                self.account_events,
                key=account,
                value=value,
                headers=[*self._headers(kind), origin_header(message)],
            )
            return
        await self._apply(message, account, value, model, kind=kind.value, wall=wall)

    def _kind_of(self, message: Any) -> TopicKind:
        kind = self.input_kinds.get(message.topic)
        if kind is not None:
            return kind
        for header, raw in message.headers or ():
            if header == KIND_HEADER:
                return TopicKind(raw.decode())
        msg = f"message on {message.topic} has no {KIND_HEADER} header"
        raise ValueError(msg)

    @staticmethod
    def _headers(kind: TopicKind) -> list[tuple[str, bytes]]:
        return [(KIND_HEADER, kind.value.encode())]

    async def _now(
        self,
        scope: tuple[str, int],
        wall: datetime,
        message: Any | None = None,
        occurred_at: datetime | None = None,
    ) -> datetime:
        """The agent partition's clock: the wall clock, or the event-time watermark
        (engine.runtime.event_clock), having read ``message`` when given."""
        if self.settings.clock == "wall":
            return wall
        return await self.clock.now(scope, message, occurred_at)

    async def _apply(
        self,
        message: Any,
        key: bytes,
        value: bytes,
        model: AccountEvent,
        *,
        kind: str,
        wall: datetime,
    ) -> None:
        now = await self._now(("accounts", message.partition), wall, message, model.occurred_at)
        await self._advance_clock(message.partition, now)
        published, state = self.store.load(key, message.partition)
        if state.clock_us > micros(now):
            # The partition's clock is in memory and restarts low after a crash, while the
            # account was evaluated up to its own clock: a redelivered event must not wait
            # (held) for ticks that already ran. Without restarts this never happens.
            now = EPOCH + state.clock_us * _MICROSECOND
        self.driver.schedule.arrive(published, micros(model.occurred_at))
        await self._tick(published, state, micros(now), wall)
        outcome = self.processor.apply(
            state, model, now, source=origin_text(message), original=value
        )
        await self.publisher.refused(outcome.rejections, kind, message, key, value)
        self.publisher.count_in(kind, model.type)
        await self.publisher.publish(outcome, published, message.timestamp, wall)
        self._save(key, message.partition, published, state)

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

    def _save(self, key: bytes, partition: int, published: Published, state: AccountState) -> None:
        self.store.put(key, partition, published, state)

    async def _on_user_message(self, message: Any, key: bytes | None, value: bytes) -> None:
        """Link users to accounts; forward resolved usage, park the rest for a while."""
        wall = datetime.now(UTC)
        if not self.clock.hear("users", message):
            await self.users.receive(message, value, wall)
        now = await self._now(("users", message.partition), wall)
        await self.users.expire(message.partition, now)

    # -- clock ------------------------------------------------------------------------

    async def _advance_clock(self, partition: int, now: datetime) -> None:
        """Sweep the partition when its clock crossed a tick boundary since the last sweep."""
        if now <= EPOCH:
            return  # the event clock has not started: some topic has not delivered yet
        boundary = self.driver.schedule.boundary(micros(now))
        if self._swept.get(partition, -1) >= boundary:
            return
        started = time.perf_counter()
        wall = datetime.now(UTC)
        for key in sorted(self.store.accounts_in(partition)):
            published, state = self.store.load(key, partition)
            if await self._tick(published, state, boundary, wall):
                self._save(key, partition, published, state)
        self._swept[partition] = boundary
        self.metrics.timer_sweep.observe(time.perf_counter() - started)

    async def _tick(
        self, published: Published, state: AccountState, upto_us: int, wall: datetime
    ) -> bool:
        """Run the account's due ticks up to ``upto_us`` (signals.driver: each boundary
        after its first event once, whenever and on whichever worker its partition is
        swept, as a replay ticks it) and publish what they give."""
        outcomes = self.driver.catch_up(state, published, upto_us)
        for outcome in outcomes:
            if outcome.rejections:  # of held messages released by the tick
                key = encode_key(state.account_id)
                await self.publisher.refused(outcome.rejections, None, key=key)
            await self.publisher.publish(outcome, published, None, wall)
        return bool(outcomes)

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
            if tp.topic == self.ticks.get_topic_name():
                await self.ticks.send(key=None, value=b"tick", partition=tp.partition)

    # -- publishing -------------------------------------------------------------------
