"""The account's key users, and the rest of its team.

When a person who uses the product most stops, an account either hands the product to
someone else (a colleague takes over, the team carries on) or starts to let it go (the
team fades after them). A fortnight's absence of one key user alone is ordinary: people
take holidays and change jobs. The rest of the team's use, measured without the absent
key users, tells the two apart.

The key users are the two users active on the most days over the 8 weeks before the
last 14 whole days, each only if active on at least ``KEY_USER_MIN_DAYS`` of them (ties
go to the smaller user digest, so every arrival order agrees). Two, not one: on a small
team the top user and the next are often close, and the one who left drops out of the
top as the 8 weeks slide past their last day. An account without a regular has no key
users, and these metrics have no data for it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from signals.config import SignalsConfig
from signals.metrics.registry import DaySpan, metric
from signals.metrics.usage import last_whole_day
from signals.state import FACET_USERS, SEEN_USAGE, AccountState, bit_indices

RECENT_DAYS: Final = 14
"""The recent window: the last 14 whole days, as ``usage_vs_baseline`` reads them."""
KEY_USER_LOOKBACK_DAYS: Final = 56
"""The key user is found over the 8 weeks before the recent window."""
KEY_USER_MIN_DAYS: Final = 14
"""A key user was active on at least this many of those 56 days (twice a week)."""
BASELINE_DAYS: Final = 28
"""The team's baseline: the 28 days before the recent window, as for the whole account."""


def _span(today: int) -> tuple[int, int]:
    last = today - 1
    return last - RECENT_DAYS - KEY_USER_LOOKBACK_DAYS + 1, last


SPAN: Final[DaySpan] = _span


KEY_USERS: Final = 2
"""How many of the most active regulars count as key users."""


def key_users(state: AccountState, last: int) -> list[int] | None:
    """Bit indices of the key users as of the whole day ``last``, or None if none.

    Active days are counted per user for all users at once, bit-sliced: ``counts[k]``
    holds bit k of every user's count, and each day's bitmap is added with a ripple of
    big-int ANDs and XORs. An account of 2,000 users costs a few hundred big-int
    operations, not a Python step per user and day."""
    counts = [0] * _COUNT_BITS
    buckets = state.buckets
    first = last - RECENT_DAYS - KEY_USER_LOOKBACK_DAYS + 1
    for day in range(first, last - RECENT_DAYS + 1):
        bucket = buckets.get(day)
        if bucket is None or not bucket.users:
            continue
        carry = bucket.users
        for k in range(_COUNT_BITS):
            counts[k], carry = counts[k] ^ carry, counts[k] & carry
            if not carry:
                break
    candidates = _at_least(counts, KEY_USER_MIN_DAYS)
    digests = state.user_digests
    chosen: list[int] = []
    while candidates and len(chosen) < KEY_USERS:
        most = _most(counts, candidates)
        ranked = sorted(bit_indices(most), key=digests.__getitem__)
        chosen += ranked[: KEY_USERS - len(chosen)]
        candidates &= ~most
    return chosen or None


_COUNT_BITS: Final = KEY_USER_LOOKBACK_DAYS.bit_length()
"""Bits of a count of active days: 6 for up to 56 (63)."""


def _at_least(counts: list[int], floor: int) -> int:
    """The users whose bit-sliced count is ``floor`` or more, as a bitmap."""
    greater, equal_so_far = 0, ~0  # all users equal on no bits yet; floor > 0 ends it finite
    for k in reversed(range(_COUNT_BITS)):
        if floor >> k & 1:
            equal_so_far &= counts[k]
        else:
            greater |= equal_so_far & counts[k]
            equal_so_far &= ~counts[k]
    return greater | equal_so_far


def _most(counts: list[int], candidates: int) -> int:
    """Of ``candidates`` (a bitmap), the users with the highest bit-sliced count."""
    for k in reversed(range(_COUNT_BITS)):
        if candidates & counts[k]:
            candidates &= counts[k]
    return candidates


def _away(state: AccountState, last: int) -> int | None:
    """The bitmap of key users with no activity in the last 14 whole days; None without
    key users."""
    found = key_users(state, last)
    if found is None:
        return None
    seen = 0
    buckets = state.buckets
    for day in range(last - RECENT_DAYS + 1, last + 1):
        bucket = buckets.get(day)
        if bucket is not None:
            seen |= bucket.users
    away = 0
    for index in found:
        if not seen >> index & 1:
            away |= 1 << index
    return away


@metric("key_users_away_14d", reads=FACET_USERS, days=SPAN)
def key_users_away_14d(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
    """How many of the account's key users (its two most active regulars) have not
    been active in the last 14 whole days; None without usage data or key users."""
    if not state.has(SEEN_USAGE):
        return None
    away = _away(state, last_whole_day(as_of))
    return None if away is None else float(away.bit_count())


@metric("team_usage_vs_baseline", reads=FACET_USERS, days=SPAN)
def team_usage_vs_baseline(
    state: AccountState, as_of: datetime, config: SignalsConfig
) -> float | None:
    """``usage_vs_baseline`` without the key users who are away: the rest of the team's
    active user-days of the last 14 days against their own 28 days before, per 14
    days, minus 1. None without key users or without a team baseline."""
    if not state.has(SEEN_USAGE):
        return None
    last = last_whole_day(as_of)
    away = _away(state, last)
    if away is None:
        return None
    buckets = state.buckets
    recent = baseline = 0
    for day in range(last - RECENT_DAYS - BASELINE_DAYS + 1, last + 1):
        bucket = buckets.get(day)
        if bucket is None:
            continue
        users = (bucket.users & ~away).bit_count()
        if day > last - RECENT_DAYS:
            recent += users
        else:
            baseline += users
    if not baseline:
        return None
    return recent / (baseline * RECENT_DAYS / BASELINE_DAYS) - 1
