"""The metric registry: metrics by name, the facets they read, and a memo per state.

A metric is a pure function of (state, as_of, config) returning None when its source has
no data: missing data is never a silent 0. Bucketed metrics are exact as of any past
``as_of`` within the retention horizon, which lets rules check "sustained for N weeks"
and revisions re-check the past; billing, ticket-status and profile facts are the latest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

from signals.config import SignalsConfig
from signals.folds import Fold, Sum, fold_days
from signals.state import AccountState

Metric = Callable[[AccountState, datetime, SignalsConfig], float | None]

DaySpan = Callable[[int], tuple[int, int]]
"""The days of buckets a metric reads, given the as-of day."""

_REGISTRY: dict[str, Metric] = {}
_READS: dict[str, int] = {}
_SPANS: dict[str, DaySpan] = {}
_ALL_DAYS: Final = (0, 2**31)
_DAYS_PER_METRIC: Final = 8
_READERS: dict[int, tuple[str, ...]] = {}
"""Touched-facet mask -> metrics reading any of them (few distinct masks occur)."""
METRICS: Final[Mapping[str, Metric]] = MappingProxyType(_REGISTRY)
"""Every metric by name; rules files reference these names."""
METRIC_READS: Final[Mapping[str, int]] = MappingProxyType(_READS)
"""The state facets (``signals.state`` FACET_* and counter bits) each metric reads."""
_MOVES: dict[str, Callable[[AccountState], bool]] = {}
CONTINUOUS: Final[Mapping[str, Callable[[AccountState], bool]]] = MappingProxyType(_MOVES)
"""Metrics that change with the time of day (never memoised); others change by the day.

Each maps to whether it is moving for a state right now (``days_past_due`` stands
still at 0 while every payment is on time), so callers can cache what depends on it.
"""

DAY_SECONDS: Final = 86_400.0
HIGH_PRIORITY: Final = 2  # index of "high" in state.PRIORITIES; "urgent" follows it


def metric(
    name: str,
    reads: int,
    days: DaySpan | None = None,
    moves: Callable[[AccountState], bool] | None = None,
) -> Callable[[Metric], Metric]:
    """Register a metric: ``reads`` are the facets, ``days`` the bucket days it depends on.

    ``moves`` marks a metric of the time of day, saying when its value moves with time.
    """

    def register(fn: Metric) -> Metric:
        if name in _REGISTRY:
            msg = f"metric {name!r} registered twice"
            raise ValueError(msg)
        _REGISTRY[name] = fn
        _READS[name] = reads
        if days is not None:
            _SPANS[name] = days
        if moves is not None:
            _MOVES[name] = moves
        return fn

    return register


def evaluate(
    name: str, state: AccountState, as_of: datetime, config: SignalsConfig
) -> float | None:
    return _REGISTRY[name](state, as_of, config)


def memoised(
    name: str, state: AccountState, as_of: datetime, config: SignalsConfig
) -> float | None:
    """``evaluate`` through the state's memo: a value stays until an event changes its inputs."""
    if name in _MOVES:
        return _REGISTRY[name](state, as_of, config)
    today = as_of.toordinal()
    by_day = state.memo.get(name)
    if by_day is None:
        by_day = state.memo[name] = {}
    else:
        hit = by_day.get(today)
        if hit is not None:
            return hit[0]
        if len(by_day) >= _DAYS_PER_METRIC:
            by_day.clear()
    value = _REGISTRY[name](state, as_of, config)
    span = _SPANS.get(name)
    first, last = span(today) if span is not None else _ALL_DAYS
    by_day[today] = (value, first, last)
    return value


def forget(state: AccountState, touched: int, day: int) -> None:
    """Drop memoised values that read a facet an event on ``day`` just changed."""
    names = _READERS.get(touched)
    if names is None:
        names = _READERS[touched] = tuple(n for n, reads in _READS.items() if reads & touched)
    memo = state.memo
    for name in names:
        by_day = memo.get(name)
        if by_day:
            for key in [k for k, (_, first, last) in by_day.items() if first <= day <= last]:
                del by_day[key]


def completed_weeks(weeks: int) -> DaySpan:
    """The days of the ``weeks`` completed ISO weeks before the as-of day's week."""

    def span(today: int) -> tuple[int, int]:
        monday = today - (today + 6) % 7
        return monday - 7 * weeks, monday - 1

    return span


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """None when either side has no data or the base is zero: never a made-up number."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def window(state: AccountState, fold: Fold[Any], as_of: datetime, days: int) -> float:
    """Fold the ``days`` days ending with the as-of day."""
    today = as_of.toordinal()
    return fold_days(state, fold, today - days + 1, today)


def weekly_trend(state: AccountState, as_of: datetime, counter: int, floor: float) -> float | None:
    """Last 7 days of a counter against its prior 4-week weekly average (floored), minus 1."""
    today = as_of.toordinal()
    recent = fold_days(state, Sum(counter), today - 6, today)
    prior = max(fold_days(state, Sum(counter), today - 34, today - 7) / 4, floor)
    change = ratio(recent, prior)
    return None if change is None else change - 1
