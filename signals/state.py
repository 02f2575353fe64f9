"""Per-account state: event-time daily buckets plus latest-wins facts, order-independent.

Every update is commutative: counters add, sets union, and "latest" facts keep the
value with the greatest (event time, event-id hash), so any arrival order within the
lateness bound yields the same state. ``AccountState`` is mutated in place because
the engine owns exactly one per account; copy it with ``from_bytes(to_bytes())``.
"""

from __future__ import annotations

import math
import sys
import zlib
from array import array
from binascii import a2b_base64, b2a_base64
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from hashlib import blake2b
from typing import Any, Final

import orjson

from signals.errors import SignalsError

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
FORMAT_VERSION: Final = 4
"""Version of ``AccountState.to_bytes``.

4: the journal ("j": what commands and snoozes did) and trigger feedback ("fb").

3: "l" also holds the first event's time (µs), from which history length is judged,
and the open churn-risk episode (last alert µs, severity rank).

2: 32-bit event-id fingerprints per event day, core features as a bitmask of the
state's feature table ("fd"), health history as [first day, [score or null, ...]].
"""
_MICRO: Final = timedelta(microseconds=1)

# Daily counter slots of a bucket.
LOGINS, USAGE_EVENTS, CORE_USES, PREMIUM_ATTEMPTS, API_CALLS, DATA_GB = range(6)
REFERRALS, COMMUNITY, TRAININGS, REVIEWS, SEATS_ADDED, SEATS_REMOVED = range(6, 12)
INVITES, TICKETS_OPENED, TICKETS_HIGH_OPENED = range(12, 15)
N_COUNTERS: Final = 15

# Bits of ``AccountState.seen``: which sources and counters ever had data.
SEEN_USAGE, SEEN_TICKETS, SEEN_BILLING, SEEN_FEEDBACK, SEEN_PROFILE = (1 << i for i in range(5))
_COUNTER_BIT_SHIFT: Final = 8

# Facets beyond the counters: what an event changed, so only rules reading it re-evaluate.
# A counter's facet is its ``counter_bit``; ``seen`` accumulates every facet ever touched.
(
    FACET_USERS,
    FACET_TICKET_STATUS,
    FACET_CSAT,
    FACET_SUBSCRIPTION,
    FACET_PAYMENTS,
    FACET_NPS,
    FACET_PROFILE,
    FACET_LAST_LOGIN,
    FACET_TRIAL,
    FACET_FEATURES,
) = (1 << (24 + i) for i in range(10))

PRIORITIES: Final = ("low", "normal", "high", "urgent")
SEVERITIES: Final = ("low", "medium", "high", "critical")
ROLES: Final = ("champion", "executive_sponsor", "admin", "end_user")
OPEN, CLOSED = 1, 2


def counter_bit(counter: int) -> int:
    return 1 << (_COUNTER_BIT_SHIFT + counter)


def micros(moment: datetime) -> int:
    """Exact microseconds since the epoch (float timestamps round)."""
    return (moment - EPOCH) // _MICRO


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def user_hash(user_id: str) -> int:
    """Stable 32-bit user digest: distinct counts as set unions, independent of PYTHONHASHSEED."""
    return zlib.crc32(user_id.encode())


def event_hash(event_id: str) -> int:
    """Stable 64-bit event-id digest for latest-wins tie-breaks (its low half dedups)."""
    return int.from_bytes(blake2b(event_id.encode(), digest_size=8).digest(), "little")


def fingerprint(eid: int) -> int:
    """The 32 bits of an event-id digest the dedup memory keeps, per event day.

    A new event is wrongly taken for a duplicate with probability n / 2**32, n being
    the ids already applied on its day: 2.3e-8 for a day of 100 events, 9.3e-7 for
    4,000. Half the bytes of the full digest, for a risk no one will meet.
    """
    return eid & 0xFFFF_FFFF


class DayBucket:
    """One event-time day: counters, a bitmap of active users and core-feature digests.

    Bit i of ``users`` is the account's i-th known user: a distinct count over days is
    an OR and a popcount, and a day of 2,000 users costs 250 bytes.

    ``encoded`` caches the bucket's serialised counts and user bitmap: a worker writes
    an account's state after every change, and most of its days no longer change
    (encoding each day anew was two thirds of ``to_bytes``). Whoever changes a bucket
    takes it from ``AccountState.bucket``, which drops the cache.
    """

    __slots__ = ("counts", "encoded", "features", "users")

    def __init__(self) -> None:
        self.counts: list[float] = [0] * N_COUNTERS
        self.users = 0
        self.features: set[int] = set()
        self.encoded: tuple[list[float], str] | None = None


def bit_indices(mask: int) -> list[int]:
    indices = []
    while mask:
        low = mask & -mask
        indices.append(low.bit_length() - 1)
        mask ^= low
    return indices


def non_negative(value: object, default: float) -> float:
    """A non-negative number from an event property (a numeric string such as "500" is
    read as its number, as Segment's SDKs often send them), else ``default``."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return default
        if not math.isfinite(value):
            return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return value if value >= 0 else default


def quantity_problem(value: object) -> str | None:
    """Why a quantity property cannot be counted, or None when it can (or is absent,
    which counts as the default). A string that is not a number, a negative or
    non-finite number, a boolean or an object would otherwise be miscounted silently."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return f"expected a non-negative number, got {type(value).__name__}"
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return f"expected a non-negative number, got the string {value[:40]!r}"
    else:
        number = float(value)
    if not math.isfinite(number) or number < 0:
        return f"expected a non-negative number, got {value!r}"
    return None


Stamped = list[Any]
"""A latest-wins register: [event time µs, event-id hash, value]."""


def lww(registers: dict[str, Stamped], field: str, ts: int, eid: int, value: Any) -> None:
    """Keep ``value`` if its (event time, event-id hash) stamp is the latest seen."""
    current = registers.get(field)
    if current is None or (ts, eid) > (current[0], current[1]):
        registers[field] = [ts, eid, value]


class AccountState:
    """Everything the core remembers about one account."""

    cancelled_us = -1
    """The end (µs) of the cancellation published for the account while it stays
    cancelled; -1 while it is a customer (``signals.cancellations``). Class defaults:
    most accounts never cancel."""
    returned_us = -1
    """When the account last came back after a published cancellation (µs), or -1."""
    offer_us = -1
    offer_rank = -1
    """The open expansion conversation: when its last trigger was sent (µs, or -1) and
    its highest severity; later reasons join it (``lifecycle.expansion_episode``)."""
    ask_us = -1
    ask_rank = -1
    """The open advocacy ask, likewise (``lifecycle.advocacy_ask``)."""

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        self.buckets: dict[int, DayBucket] = {}
        self.user_digests: list[int] = []
        """bit index -> 32-bit user digest, for the buckets' user bitmaps"""
        self.user_bits: dict[int, int] = {}
        """user digest -> bit index"""
        self.seen = 0
        self.billing: dict[str, Stamped] = {}
        self.profile: dict[str, Stamped] = {}
        self.tickets: dict[str, list[int]] = {}
        """ticket id -> [status, status µs, status eid, priority, priority µs, priority eid]"""
        self.csat: dict[str, list[int]] = {}
        """ticket id -> [µs, eid, day, score]: the latest rating of each ticket"""
        self.payments: dict[str, list[int]] = {}
        """invoice -> [resolved µs or -1, failure µs...]"""
        self.nps: dict[str, list[int]] = {}
        """respondent -> [µs, eid, day, score, role index or -1]"""
        self.last_login_us = -1
        self.trial_started_day = -1
        self.first_us = -1
        """Event time of the earliest event applied: how long the account has been observed."""
        self.episode_us = -1
        self.episode_rank = -1
        """The open churn-risk conversation: when its last alert fired, and its highest
        severity (rank in ``SEVERITIES``); later churn-risk reasons join it."""
        self.dedup: dict[int, set[int]] = {}
        """event day -> fingerprints of the event ids applied; days within the lateness bound"""
        self.pruned_day = 0
        self.health_history: dict[int, float] = {}
        """day -> last health score computed that day (for trends)"""
        self.overrides: list[dict[str, Any]] = []
        """CSM overrides, as HealthOverride JSON dicts"""
        self.rule_memory: dict[str, list[int]] = {}
        """rule id -> [armed 0/1, last fired µs or -1, condition true since µs or -1]"""
        self.snoozes: dict[str, list[Any]] = {}
        """rule id -> [until µs, reason(, condition-since µs of the last would-be trigger
        it suppressed)]: a CSM silenced this rule for this account"""
        self.fired: list[list[Any]] = []
        """Last fired triggers: [trigger id, rule id, version, fired µs, episode(, "revised"
        or "joined": withdrawn by late data since, or never sent as it joined a conversation)]"""
        self.journal: list[list[Any]] = []
        self.feedback: dict[str, list[Any]] = {}
        """``journal``: the latest changes, oldest first, as [µs, what, by whom, detail]
        (``signals.commands``: overrides, snoozes, feedback, suppressed triggers);
        ``feedback``: trigger id -> [verdict, author, µs, rule id], what the CSM did."""
        self.clock_us = -1
        """Event-time clock of evaluations: the latest released event or tick."""
        self.pending: list[list[Any]] = []
        """Events held by the reorder window: [occurred µs, event id, JSON], in that order."""
        self.memo: dict[str, dict[int, tuple[float | None, int, int]]] = {}
        """Transient, never serialised: metric -> as-of day -> (value, first, last day read)."""
        self.health_memo: tuple[int, Any, int] | None = None
        """Transient: (as-of day, health score, facets touched since it was scored)."""
        self.settled: object = None
        """Transient: the core's rules that need no re-evaluation while health stands still."""

    def __eq__(self, other: object) -> bool:
        """Same facts, whatever order users got their bits in."""
        return isinstance(other, AccountState) and self._fields(True) == other._fields(True)

    __hash__ = None  # type: ignore[assignment]

    def bucket(self, day: int) -> DayBucket:
        """The day's bucket, to change: created if missing, its encoding cache dropped."""
        bucket = self.buckets.get(day)
        if bucket is None:
            bucket = self.buckets[day] = DayBucket()
        else:
            bucket.encoded = None
        return bucket

    def user_bit(self, user_id: str) -> int:
        digest = user_hash(user_id)
        index = self.user_bits.get(digest)
        if index is None:
            index = self.user_bits[digest] = len(self.user_digests)
            self.user_digests.append(digest)
        return 1 << index

    def users_of(self, mask: int) -> set[int]:
        """The user digests behind a bitmap."""
        digests = self.user_digests
        return {digests[i] for i in bit_indices(mask)}

    def compact_users(self) -> None:
        """Forget users active in no retained bucket and renumber the rest, keeping order."""
        active = 0
        for bucket in self.buckets.values():
            active |= bucket.users
        if active.bit_count() == len(self.user_digests):
            return
        kept = bit_indices(active)
        remap = {old: 1 << new for new, old in enumerate(kept)}
        for bucket in self.buckets.values():
            mask = 0
            for old in bit_indices(bucket.users):
                mask |= remap[old]
            if mask != bucket.users:
                bucket.users, bucket.encoded = mask, None
        self.user_digests = [self.user_digests[i] for i in kept]
        self.user_bits = {digest: i for i, digest in enumerate(self.user_digests)}

    def has(self, bits: int) -> bool:
        return self.seen & bits == bits

    def fact(self, registers: dict[str, Stamped], field: str) -> Any:
        register = registers.get(field)
        return None if register is None else register[2]

    # -- serialisation ---------------------------------------------------------

    def to_bytes(self, *, cached: bool = True) -> bytes:
        """Compact orjson of lists and ints (format ``FORMAT_VERSION``); bitmaps as base64.
        ``cached=False`` encodes every day anew, ignoring ``DayBucket.encoded``."""
        return orjson.dumps(
            self._fields(False, cached), option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
        )

    def _fields(self, canonical: bool, cached: bool = True) -> dict[str, Any]:
        """The serialised fields; ``canonical`` for comparing states, ``cached=False``
        to encode every bucket anew (tests check the cache against it)."""
        features = sorted(set().union(*(b.features for b in self.buckets.values())))
        feature_bits = {digest: 1 << i for i, digest in enumerate(features)}
        buckets: list[list[Any]] = []
        for day, b in sorted(self.buckets.items()):
            mask = sum(feature_bits[f] for f in b.features)
            if canonical:
                buckets.append([day, _trim(b.counts), sorted(self.users_of(b.users)), mask])
                continue
            encoded = b.encoded if cached else None
            if encoded is None:
                encoded = b.encoded = (_trim(b.counts), _pack_mask(b.users))
            buckets.append([day, *encoded, mask])
        return {
            "v": FORMAT_VERSION,
            "a": self.account_id,
            "u": [] if canonical else _pack("I", self.user_digests, ordered=False),
            "fd": features,
            "b": buckets,
            "s": self.seen,
            "bi": self.billing,
            "pr": self.profile,
            "t": self.tickets,
            "c": self.csat,
            "p": self.payments,
            "n": self.nps,
            "l": [
                self.last_login_us,
                self.trial_started_day,
                self.pruned_day,
                self.first_us,
                self.episode_us,
                self.episode_rank,
                self.offer_us,
                self.offer_rank,
                self.ask_us,
                self.ask_rank,
            ],
            "d": [[day, _pack("I", ids)] for day, ids in sorted(self.dedup.items())],
            "h": _by_day(self.health_history),
            "o": self.overrides,
            "r": self.rule_memory,
            "z": self.snoozes,
            "f": self.fired,
            "j": self.journal,
            "fb": self.feedback,
            "k": self.clock_us,
            "q": self.pending,
            "x": [self.cancelled_us, self.returned_us],
        }

    @classmethod
    def from_bytes(cls, data: bytes) -> AccountState:
        """Read ``to_bytes`` output of this format or the ones before it; refuse any other."""
        raw = orjson.loads(data)
        version = raw.get("v", 1)
        if version not in (1, 2, 3, FORMAT_VERSION):
            msg = (
                f"account state format version {version!r} is unknown: this build reads "
                f"versions 1 to {FORMAT_VERSION} (state written by a newer Pulse?)"
            )
            raise SignalsError(msg)
        state = cls(raw["a"])
        state.user_digests = list(_unpack("I", raw["u"]))
        state.user_bits = {digest: i for i, digest in enumerate(state.user_digests)}
        digests = raw.get("fd", [])
        features_of: dict[int, frozenset[int]] = {}  # most days share a few feature masks
        for day, counts, users, features in raw["b"]:
            bucket = DayBucket()
            bucket.counts[: len(counts)] = counts
            bucket.users = int.from_bytes(a2b_base64(users), "little")
            bucket.encoded = (counts, users)  # as written: the same bytes again
            if version == 1:  # the digests themselves
                bucket.features = set(features)
            else:
                used = features_of.get(features)
                if used is None:
                    used = features_of[features] = frozenset(
                        digests[i] for i in bit_indices(features)
                    )
                bucket.features = set(used)
            state.buckets[day] = bucket
        state.seen = raw["s"]
        state.billing, state.profile = raw["bi"], raw["pr"]
        state.tickets, state.csat = raw["t"], raw["c"]
        state.payments, state.nps = raw["p"], raw["n"]
        state.last_login_us, state.trial_started_day, state.pruned_day = raw["l"][:3]
        if version >= 3:
            state.first_us, state.episode_us, state.episode_rank = raw["l"][3:6]
            if len(raw["l"]) > 6:  # absent before expansion and advocacy had conversations
                state.offer_us, state.offer_rank, state.ask_us, state.ask_rank = raw["l"][6:10]
        elif raw["b"] or raw["s"]:  # before format 3: the oldest retained day stands in
            days = [d for d, *_ in raw["b"]] or [raw["l"][2]]
            state.first_us = micros(datetime.combine(date.fromordinal(min(days)), time(), UTC))
        if version == 1:  # full 64-bit digests, and [day, score] pairs
            state.dedup = {d: {fingerprint(e) for e in _unpack("Q", ids)} for d, ids in raw["d"]}
            state.health_history = {day: score for day, score in raw["h"]}
        else:
            state.dedup = {d: set(_unpack("I", ids)) for d, ids in raw["d"]}
            state.health_history = _from_days(raw["h"])
        state.overrides, state.rule_memory = raw["o"], raw["r"]
        state.snoozes, state.fired, state.clock_us, state.pending = (
            raw["z"],
            raw["f"],
            raw["k"],
            raw["q"],
        )
        state.journal, state.feedback = raw.get("j", []), raw.get("fb", {})
        if "x" in raw:
            state.cancelled_us, state.returned_us = raw["x"]
        elif (status := state.billing.get("status")) is not None and status[2] == "cancelled":
            state.cancelled_us = status[0]  # saved before cancellations were published: no
            # record now for a cancellation long past
        return state


def _by_day(values: dict[int, float]) -> list[Any]:
    """Daily values as [first day, [value or null per day]]: no day number per entry."""
    if not values:
        return []
    first, last = min(values), max(values)
    return [first, [values.get(day) for day in range(first, last + 1)]]


def _from_days(packed: list[Any]) -> dict[int, float]:
    if not packed:
        return {}
    first, values = packed
    return {first + i: value for i, value in enumerate(values) if value is not None}


def _trim(counts: list[float]) -> list[float]:
    end = len(counts)
    while end and not counts[end - 1]:
        end -= 1
    return counts[:end]


def _pack_mask(mask: int) -> str:
    return b2a_base64(mask.to_bytes((mask.bit_length() + 7) // 8, "little"), newline=False).decode()


def _pack(code: str, values: Iterable[int], ordered: bool = True) -> str:
    packed = array(code, sorted(values) if ordered else values)
    if sys.byteorder == "big":
        packed.byteswap()
    return b2a_base64(packed.tobytes(), newline=False).decode()


def _unpack(code: str, text: str) -> array[int]:
    packed = array(code)
    packed.frombytes(a2b_base64(text))
    if sys.byteorder == "big":
        packed.byteswap()
    return packed
