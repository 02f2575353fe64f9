"""The users agent's duties: which account a user-only or customer-only event belongs to.

An event without an account names an identity (``signals.resolve.identity``): a user,
or a billing customer. A group call links a user to an account; an applied billing
event naming both, or an account profile naming its billing customer, links the
customer (``signals.resolve.customer_link``, sent here by the accounts agent). An
alias arrives at its user's partition, which sends the aliased id a link to the
user's account (``signals.resolve.derived_link``), now or at the user's next link. The
latest link by event time wins (signals.driver.link_wins). An event whose identity is
linked is forwarded, with its account, to the internal account topic; one without a
link yet is parked (in a table, with the place it entered Pulse and its kind) until a
link releases it or its time runs out (``park_us`` of event time, or of wall time
under the wall clock), when it is dead-lettered as ``unresolved_user`` or
``unresolved_customer``. Both tables are keyed by identity, so each partition's
identities are this worker's alone.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import orjson

from engine.routing import partition_for
from engine.runtime.checkpoint import settle_or_exit
from engine.runtime.publisher import Publisher, header_kind, kind_headers, origin, send
from engine.transport.delivery import TrackedTable, deliveries
from signals.driver import link_wins
from signals.resolve import DERIVED, customer_link, derived_link, identity, unresolved
from signals.state import micros
from topics.catalogue import TopicKind
from topics.codec import decode_input, encode, encode_key
from topics.models import UserAlias, UserLink

_NEVER = 2**63
ALIASES = b"\x1faliases\x1f"
"""Key prefix, in the links table, of the ids aliased to a user (no id starts with a
control character)."""


def link_of(stored: bytes | None) -> tuple[int, str, str] | None:
    """A user's stored link: ``[event time µs, event id, account]``; a bare account id
    (written by earlier versions, which let the last link to arrive win) counts as
    older than any link."""
    if stored is None:
        return None
    if stored[:1] == b"[":
        at_us, event_id, account = orjson.loads(stored)
        return int(at_us), str(event_id), str(account)
    return -1, "", stored.decode()


class UserDirectory:
    """Links, parks, releases and expires user-only events for the users agent."""

    def __init__(
        self,
        links: TrackedTable,
        parked: TrackedTable,
        publisher: Publisher,
        forward_to: Any,
        *,
        partitions: int,
        park_us: int,
        wall_clock: bool,
        max_bytes: int,
        stripe: Mapping[str, Any],
    ) -> None:
        self.links = links
        self.parked = parked
        self.publisher = publisher
        self.forward_to = forward_to
        """The internal account topic (faust topic)."""
        self.partitions = partitions
        self.park_us = park_us
        self.wall_clock = wall_clock
        self.max_bytes = max_bytes
        self.stripe = stripe
        """How billing messages decode (``Settings.stripe_options``)."""
        self._next_expiry: dict[int, int] = {}
        """partition -> earliest deadline of its parked events (µs); 0: unknown"""

    def forget(self) -> None:
        """Partitions were revoked: deadlines are found again by a scan."""
        self._next_expiry.clear()

    def _decode(self, kind: TopicKind, value: bytes) -> Any:
        return decode_input(kind, value, max_bytes=self.max_bytes, stripe=self.stripe)

    async def receive(self, message: Any, value: bytes, wall: datetime) -> None:
        """A link, or an event without an account (a user's usage, a customer's billing)."""
        kind = header_kind(message) or TopicKind.USAGE
        model = self._decode(kind, value)
        user = encode_key(identity(model))
        if isinstance(model, UserLink):
            await self._link(user, model, wall)
            return
        if isinstance(model, UserAlias):
            await self._alias(user, model)
            return
        learned = customer_link(model)
        if learned is not None:  # first the customer's link, then the event, as replayed
            await self._link(user, learned, wall)
            await self._forward(kind, model, model.account_id)
            return
        link = link_of(self.links.get(user))
        if link is not None:
            await self._forward(kind, model, link[2])
            return
        entries = orjson.loads(self.parked.get(user) or b"[]")
        parked_at = wall if self.wall_clock else model.occurred_at
        deadline = micros(parked_at) + self.park_us
        raw = base64.b64encode(value).decode()
        entries.append([deadline, *origin(message), raw, kind.value])
        self.parked[user] = orjson.dumps(entries)
        partition = message.partition
        self._next_expiry[partition] = min(self._next_expiry.get(partition, 0), deadline)

    async def _link(self, user: bytes, link: UserLink, wall: datetime) -> None:
        """Keep the latest link by event time; release the user's parked events that
        waited less than the parking time, dead-letter the others (signals.driver)."""
        at_us = micros(wall if self.wall_clock else link.occurred_at)
        current = link_of(self.links.get(user))
        won = link_wins(current[:2] if current else None, micros(link.occurred_at), link.event_id)
        if won:
            value = [micros(link.occurred_at), link.event_id, link.account_id]
            self.links[user] = orjson.dumps(value)
            current = (micros(link.occurred_at), link.event_id, link.account_id)
        account = current[2] if current else link.account_id
        entries = orjson.loads(self.parked.get(user) or b"[]")
        for entry in entries:
            if at_us < entry[0]:  # its deadline: released
                kind = _entry_kind(entry)
                await self._forward(kind, self._decode(kind, base64.b64decode(entry[4])), account)
            else:
                await self._reject(user, entry)
        if entries:  # forwarded before they leave the table, or lost in a crash
            await settle_or_exit(deliveries())
            del self.parked[user]
        waiting = self._aliases(user)
        own = current is not None and current[:2] == (micros(link.occurred_at), link.event_id)
        if own and current and waiting and not link.event_id.startswith(DERIVED):
            # ``own``, not only ``won``: redelivered after a crash between the link's
            # write and these sends, the link no longer wins, yet they are still owed.
            for previous, stamp in sorted(waiting.items()):
                await self._send_link(derived_link(previous, stamp, current))
            await settle_or_exit(deliveries())  # sent before they leave the table
            del self.links[ALIASES + user]

    def _aliases(self, user: bytes) -> dict[str, tuple[int, str]]:
        """The ids aliased to ``user`` waiting for its link, with their alias (time µs,
        event id)."""
        stored = orjson.loads(self.links.get(ALIASES + user) or b"{}")
        return {previous: (int(at), str(eid)) for previous, (at, eid) in stored.items()}

    async def _alias(self, user: bytes, alias: UserAlias) -> None:
        """``alias.user_id`` is another id of ``user``: send it a link to ``user``'s
        account (signals.resolve.derived_link), or keep it until ``user``'s next link."""
        stamp = (micros(alias.occurred_at), alias.event_id)
        link = link_of(self.links.get(user))
        if link is not None and not link[1].startswith(DERIVED):  # a user's own link only
            await self._send_link(derived_link(alias.user_id, stamp, link))
            return
        waiting = self._aliases(user)
        waiting[alias.user_id] = max(stamp, waiting.get(alias.user_id, stamp))
        self.links[ALIASES + user] = orjson.dumps(waiting)

    async def _send_link(self, link: UserLink) -> None:
        """A derived link, on its way to the aliased id's partition. By the account topic:
        the accounts agent sends every link on to the users topic, and that way each hop
        is one the event clock's watermarks cover (users -> accounts -> users), so the
        aliased id's partition cannot expire what the link would release before it
        arrives. A users partition writing to another directly would be outside them."""
        await send(
            self.forward_to,
            key=encode_key(link.user_id),
            value=encode(link),
            headers=kind_headers(TopicKind.USAGE),
        )

    async def _forward(self, kind: TopicKind, event: Any, account_id: str) -> None:
        resolved = event.model_copy(update={"account_id": account_id})
        await send(
            self.forward_to,
            key=encode_key(account_id),
            value=encode(resolved),
            headers=kind_headers(kind),
        )

    async def expire(self, partition: int, now: datetime) -> None:
        """Dead-letter parked events whose user never got an account in time.

        The parked table is scanned only once the clock passes the earliest deadline
        (unknown after a restart or rebalance: then scanned once to find it).
        """
        now_us = micros(now)
        if self._next_expiry.get(partition, 0) > now_us:
            return
        earliest = _NEVER
        for user in [k for k in self.parked if partition_for(k, self.partitions) == partition]:
            entries = orjson.loads(self.parked[user])
            keep = [e for e in entries if e[0] > now_us]
            earliest = min([earliest, *(e[0] for e in keep)])
            if len(keep) == len(entries):
                continue
            for entry in entries:
                if entry[0] <= now_us:
                    await self._reject(user, entry)
            await settle_or_exit(deliveries())  # dead-lettered before they leave the table
            if keep:
                self.parked[user] = orjson.dumps(keep)
            else:
                del self.parked[user]
        self._next_expiry[partition] = earliest

    async def _reject(self, user: bytes, entry: list[Any]) -> None:
        """Dead-letter a parked event (``[deadline, topic, partition, offset, raw, kind]``)
        whose identity was not linked to an account in time."""
        _, topic, origin_partition, offset, raw = entry[:5]
        kind, reason = unresolved(user.decode(), timedelta(microseconds=self.park_us))
        entered = (topic, origin_partition, offset)
        value = base64.b64decode(raw)
        await self.publisher.dead_letter_from(entered, user, value, kind, reason)


def _entry_kind(entry: list[Any]) -> TopicKind:
    """A parked entry's input kind (entries parked by earlier versions, usage only, have
    none)."""
    return TopicKind(entry[5]) if len(entry) > 5 else TopicKind.USAGE
