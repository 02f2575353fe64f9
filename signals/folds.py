"""Window aggregations over daily buckets as ``initialize / agg / result`` folds."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from signals.state import AccountState, DayBucket

A = TypeVar("A")


class Fold(Protocol[A]):
    """One aggregation: a fresh accumulator, a step per day present, a number at the end."""

    def initialize(self) -> A: ...

    def agg(self, acc: A, bucket: DayBucket) -> A: ...

    def result(self, acc: A) -> float: ...


@dataclass(frozen=True, slots=True)
class Sum:
    """Total of one counter slot."""

    counter: int

    def initialize(self) -> float:
        return 0

    def agg(self, acc: float, bucket: DayBucket) -> float:
        return acc + bucket.counts[self.counter]

    def result(self, acc: float) -> float:
        return acc


@dataclass(frozen=True, slots=True)
class Peak:
    """Highest daily value of one counter slot (gauges such as data volume)."""

    counter: int

    def initialize(self) -> float:
        return 0

    def agg(self, acc: float, bucket: DayBucket) -> float:
        return max(acc, bucket.counts[self.counter])

    def result(self, acc: float) -> float:
        return acc


class DistinctUsers:
    """Distinct users: the union (OR) of the days' user bitmaps."""

    def initialize(self) -> int:
        return 0

    def agg(self, acc: int, bucket: DayBucket) -> int:
        return acc | bucket.users

    def result(self, acc: int) -> float:
        return acc.bit_count()


class DailyUsers:
    """Sum of each day's distinct users (DAU summed; divide by the days for the average)."""

    def initialize(self) -> float:
        return 0

    def agg(self, acc: float, bucket: DayBucket) -> float:
        return acc + bucket.users.bit_count()

    def result(self, acc: float) -> float:
        return acc


@dataclass(frozen=True, slots=True)
class DistinctFeatures:
    """Distinct digests of the configured core features that were used."""

    core: frozenset[int]

    def initialize(self) -> set[int]:
        return set()

    def agg(self, acc: set[int], bucket: DayBucket) -> set[int]:
        acc |= bucket.features
        return acc

    def result(self, acc: set[int]) -> float:
        return len(acc & self.core)


Days = Iterable[int]
Lookup = Callable[[int], DayBucket | None]


def _sum(fold: Sum, get: Lookup, days: Days) -> float:
    counter = fold.counter
    total: float = 0
    for day in days:
        if (bucket := get(day)) is not None:
            total += bucket.counts[counter]
    return total


def _daily_users(fold: DailyUsers, get: Lookup, days: Days) -> float:
    users = 0
    for day in days:
        if (bucket := get(day)) is not None:
            users += bucket.users.bit_count()
    return users


def _distinct_users(fold: DistinctUsers, get: Lookup, days: Days) -> float:
    mask = 0
    for day in days:
        if (bucket := get(day)) is not None:
            mask |= bucket.users
    return mask.bit_count()


def _distinct_features(fold: DistinctFeatures, get: Lookup, days: Days) -> float:
    features: set[int] = set()
    for day in days:
        if (bucket := get(day)) is not None:
            features |= bucket.features
    return len(features & fold.core)


_INLINED: dict[type, Callable[[Any, Lookup, Days], float]] = {
    Sum: _sum,
    DailyUsers: _daily_users,
    DistinctUsers: _distinct_users,
    DistinctFeatures: _distinct_features,
}
"""The hot folds as plain loops, same order and arithmetic as ``initialize / agg / result``:
rules and the health score re-read them after most events, and a method call per day
would cost more than the sum."""


def fold_days(state: AccountState, fold: Fold[A], first_day: int, last_day: int) -> float:
    """Run ``fold`` over the buckets of days ``first_day..last_day`` (inclusive), in day order."""
    buckets = state.buckets
    days: Days = range(first_day, last_day + 1)
    if last_day - first_day >= 4 * len(buckets):  # sparse: visit the buckets, not the days
        days = sorted(d for d in buckets if first_day <= d <= last_day)
    inlined = _INLINED.get(type(fold))
    if inlined is not None:
        return inlined(fold, buckets.get, days)
    acc = fold.initialize()
    for day in days:
        if (bucket := buckets.get(day)) is not None:
            acc = fold.agg(acc, bucket)
    return fold.result(acc)
