"""The account path of a worker: one message of an account-keyed partition, handled.

A message is a clock nudge (a tick message or a watermark announcement), or input:
decoded (bad input to the dead-letter topic, input we do not use counted as ignored),
sent on through a detour when it is not yet at its account's partition (user-only
events to user resolution, a message keyed or partitioned other than by its account to
re-keying), or applied: the account's due ticks first (signals.driver), then the event,
then what it gave published and the state put back in the store.

The partition sweep runs every account's due ticks when the partition's clock crosses
a tick boundary, as a replay ticks them.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.envelope import Published
from engine.metrics import Metrics
from engine.routing import partition_for
from engine.runtime.event_clock import WATERMARK_HEADER, EventClock
from engine.runtime.publisher import (
    KIND_HEADER,
    Publisher,
    header_kind,
    kind_headers,
    origin_header,
    origin_text,
    send,
)
from engine.runtime.store import AccountStore
from engine.settings import Settings
from signals.core import SignalProcessor
from signals.driver import AccountDriver
from signals.ingest import AccountEvent
from signals.resolve import identity, through_links
from signals.state import EPOCH, AccountState, micros
from topics.catalogue import TopicKind
from topics.codec import decode_input, encode, encode_key
from topics.errors import PulseIgnored, PulseValidationError
from topics.models import UserAlias, UserLink

_MICROSECOND = timedelta(microseconds=1)


class AccountPath:
    """What the accounts agent does with each message (see the module's docstring)."""

    def __init__(
        self,
        settings: Settings,
        processor: SignalProcessor,
        driver: AccountDriver,
        store: AccountStore,
        publisher: Publisher,
        *,
        clock: EventClock,
        metrics: Metrics,
        input_kinds: dict[str, TopicKind],
        ticks_topic: str,
        account_events: Any,
        user_events: Any,
    ) -> None:
        self.settings = settings
        self.processor = processor
        self.driver = driver
        self.store = store
        self.publisher = publisher
        self.clock = clock
        self.metrics = metrics
        self.input_kinds = input_kinds
        self.ticks_topic = ticks_topic
        self.account_events = account_events
        """The re-keying detour (internal topic keyed by account)."""
        self.user_events = user_events
        """The user-resolution detour (internal topic keyed by user)."""
        self.max_future_skew = timedelta(seconds=settings.max_future_skew_seconds)
        self._swept: dict[int, int] = {}
        """partition -> last tick boundary swept (µs); in memory, since ticks are per account"""

    def forget(self) -> None:
        """After a revocation: partitions may come back swept by another worker."""
        self._swept.clear()

    async def on_message(self, message: Any, key: bytes | None, value: bytes) -> None:
        wall = datetime.now(UTC)
        if message.topic == self.ticks_topic or self.clock.hear("accounts", message):
            now = await self.now(("accounts", message.partition), wall)
            await self.advance_clock(message.partition, now)
            return
        if self.settings.clock == "event":
            await self.now(("accounts", message.partition), wall, message)  # count it as read
        kind = self.kind_of(message)
        from_input = message.topic in self.input_kinds
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
        if (
            isinstance(model, UserLink | UserAlias)
            or model.account_id is None
            or (from_input and through_links(model))
        ):
            # To the users agent: links are learned and used there (signals.resolve).
            who = encode_key(identity(model))
            await send(self.user_events, key=who, value=value, headers=self._detour(kind, message))
            if isinstance(model, UserLink):
                await self._send_traits(kind, message, model)
            return
        account = encode_key(model.account_id)
        partitions = self.settings.topic_partitions
        if key != account or message.partition != partition_for(account, partitions):
            headers = self._detour(kind, message)
            await send(self.account_events, key=account, value=value, headers=headers)
            return
        await self._apply(message, account, value, model, kind=kind.value, wall=wall)

    async def _send_traits(self, kind: TopicKind, message: Any, link: UserLink) -> None:
        """A group call's account traits go on to the account as a profile update; a
        trait whose value Pulse cannot use is counted as ignored (the link is kept)."""
        for trait in link.dropped_traits:
            reason = f"{trait}: not a value Pulse can use; the rest of the call is kept"
            self.publisher.ignore(kind.value, PulseIgnored(f"segment:{trait}", reason))
        profile = link.account_traits
        if profile is not None:
            headers = self._detour(TopicKind.ACCOUNTS, message)
            account = encode_key(profile.account_id)
            await send(self.account_events, key=account, value=encode(profile), headers=headers)

    @staticmethod
    def _detour(kind: TopicKind, message: Any) -> list[tuple[str, bytes]]:
        """A detoured message's headers: its kind and where it came from (read only for
        detours: an applied message's origin is read once, in ``_apply``)."""
        return [*kind_headers(kind), origin_header(message)]

    def kind_of(self, message: Any) -> TopicKind:
        kind = self.input_kinds.get(message.topic) or header_kind(message)
        if kind is not None:
            return kind
        msg = f"message on {message.topic} has no {KIND_HEADER} header"
        raise ValueError(msg)

    def is_clock_message(self, message: Any) -> bool:
        """A tick or a watermark announcement: nothing to dead-letter if rolled back."""
        return message.topic == self.ticks_topic or any(
            header == WATERMARK_HEADER for header, _ in message.headers or ()
        )

    async def now(
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
        now = await self.now(("accounts", message.partition), wall, message, model.occurred_at)
        await self.advance_clock(message.partition, now)
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
        self.store.put(key, message.partition, published, state)

    async def advance_clock(self, partition: int, now: datetime) -> None:
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
                self.store.put(key, partition, published, state)
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
