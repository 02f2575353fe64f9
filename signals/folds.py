"""Window aggregations over daily buckets as ``initialize / agg / result`` folds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeVar

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


def fold_days(state: AccountState, fold: Fold[A], first_day: int, last_day: int) -> float:
    """Run ``fold`` over the buckets of days ``first_day..last_day`` (inclusive)."""
    get = state.buckets.get
    if isinstance(fold, Sum):  # the hot fold, inlined: most rules re-check a counter sum
        counter = fold.counter
        total: float = 0
        for day in range(first_day, last_day + 1):
            bucket = get(day)
            if bucket is not None:
                total += bucket.counts[counter]
        return total
    acc = fold.initialize()
    for day in range(first_day, last_day + 1):
        bucket = get(day)
        if bucket is not None:
            acc = fold.agg(acc, bucket)
    return fold.result(acc)
