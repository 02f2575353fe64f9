"""The users agent's duties: which account a user-only event belongs to.

A group call links a user to an account; the latest by event time wins
(signals.driver.link_wins). A usage event of a linked user is forwarded, with its
account, to the internal account topic; one of a user with no link yet is parked
(in a table, with the place it entered Pulse) until a link releases it or its time
runs out (``park_us`` of event time, or of wall time under the wall clock), when it
is dead-lettered as ``unresolved_user``. Both tables are keyed by user, so each
partition's users are this worker's alone.
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any

import orjson

from engine.routing import partition_for
from engine.runtime.checkpoint import settle_or_exit
from engine.runtime.publisher import Publisher, origin, send
from engine.transport.delivery import TrackedTable, deliveries
from signals.driver import link_wins
from signals.state import micros
from topics.codec import decode_usage, encode, encode_key
from topics.models import UserLink

_NEVER = 2**63


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
        headers: list[tuple[str, bytes]],
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
        self.headers = headers
        """Headers of a forwarded event (its input kind)."""
        self._next_expiry: dict[int, int] = {}
        """partition -> earliest deadline of its parked events (µs); 0: unknown"""

    def forget(self) -> None:
        """Partitions were revoked: deadlines are found again by a scan."""
        self._next_expiry.clear()

    async def receive(self, message: Any, value: bytes, wall: datetime) -> None:
        """A usage message of a user (a group call, or an event without an account)."""
        model = decode_usage(value, max_bytes=self.max_bytes)
        user = encode_key(str(model.user_id))
        if isinstance(model, UserLink):
            await self._link(user, model, wall)
            return
        link = link_of(self.links.get(user))
        if link is not None:
            await self._forward(model, link[2])
            return
        entries = orjson.loads(self.parked.get(user) or b"[]")
        parked_at = wall if self.wall_clock else model.occurred_at
        deadline = micros(parked_at) + self.park_us
        entries.append([deadline, *origin(message), base64.b64encode(value).decode()])
        self.parked[user] = orjson.dumps(entries)
        partition = message.partition
        self._next_expiry[partition] = min(self._next_expiry.get(partition, 0), deadline)

    async def _link(self, user: bytes, link: UserLink, wall: datetime) -> None:
        """Keep the latest link by event time; release the user's parked events that
        waited less than the parking time, dead-letter the others (signals.driver)."""
        at_us = micros(wall if self.wall_clock else link.occurred_at)
        current = link_of(self.links.get(user))
        if link_wins(current[:2] if current else None, micros(link.occurred_at), link.event_id):
            value = [micros(link.occurred_at), link.event_id, link.account_id]
            self.links[user] = orjson.dumps(value)
            current = (micros(link.occurred_at), link.event_id, link.account_id)
        account = current[2] if current else link.account_id
        entries = orjson.loads(self.parked.get(user) or b"[]")
        for entry in entries:
            if at_us < entry[0]:  # its deadline: released
                await self._forward(decode_usage(base64.b64decode(entry[4])), account)
            else:
                await self._reject(user, entry)
        if entries:  # forwarded before they leave the table, or lost in a crash
            await settle_or_exit(deliveries())
            del self.parked[user]

    async def _forward(self, event: Any, account_id: str) -> None:
        resolved = event.model_copy(update={"account_id": account_id})
        await send(
            self.forward_to,
            key=encode_key(account_id),
            value=encode(resolved),
            headers=self.headers,
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
        """Dead-letter a parked event (``[deadline, topic, partition, offset, raw]``)
        whose user was not linked to an account in time."""
        _, topic, origin_partition, offset, raw = entry
        reason = (
            f"no group call linked user {user.decode()!r} to an account within "
            f"{timedelta(microseconds=self.park_us)}"
        )
        entered = (topic, origin_partition, offset)
        value = base64.b64decode(raw)
        await self.publisher.dead_letter_from(entered, user, value, "unresolved_user", reason)
