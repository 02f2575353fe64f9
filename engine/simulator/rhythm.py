"""Calendar rhythm of B2B usage: busy weekdays, quiet weekends and holidays, office hours.

Rules look at weekly logins and 7-day windows, so a flat synthetic week would
hide exactly the noise they must be robust to.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import accumulate

_WEEKDAY_FACTOR = (1.0, 1.05, 1.05, 1.0, 0.8, 0.12, 0.08)
"""Monday first: Friday tails off, weekends are near silent."""
_HOLIDAY_FACTOR = 0.15
_FIXED_HOLIDAYS = frozenset({(1, 1), (5, 1), (7, 4), (12, 24), (12, 25), (12, 26), (12, 31)})

# Office hours (local time) and their relative weight: a morning peak, a lunch dip.
_HOURS = tuple(range(7, 20))
_HOUR_WEIGHTS = (2, 6, 9, 10, 8, 6, 8, 9, 8, 6, 4, 2, 1)
_HOUR_CUMULATIVE = tuple(accumulate(_HOUR_WEIGHTS))
"""`choices` with these cumulative weights draws exactly as with the weights, only faster."""


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


@lru_cache(maxsize=4096)
def is_holiday(day: date) -> bool:
    """Fixed-date holidays plus Labor Day (first Monday of September) and Thanksgiving."""
    if (day.month, day.day) in _FIXED_HOLIDAYS:
        return True
    return day in (_nth_weekday(day.year, 9, 0, 1), _nth_weekday(day.year, 11, 3, 4))


def activity_factor(day: date) -> float:
    """How busy a day is relative to an ordinary Monday."""
    if is_holiday(day):
        return _HOLIDAY_FACTOR * _WEEKDAY_FACTOR[day.weekday()]
    return _WEEKDAY_FACTOR[day.weekday()]


def is_workday(day: date) -> bool:
    return day.weekday() < 5 and not is_holiday(day)


def office_instant(rng: random.Random, day: date, utc_offset_hours: int) -> datetime:
    """A moment of `day` in the account's office hours, as an aware UTC datetime."""
    hour = rng.choices(_HOURS, cum_weights=_HOUR_CUMULATIVE)[0]
    local = datetime.combine(day, time(hour), tzinfo=UTC) + timedelta(
        seconds=rng.randrange(3600), milliseconds=rng.randrange(1000)
    )
    return local - timedelta(hours=utc_offset_hours)


def instant_in(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A uniformly random moment in [start, end), to the millisecond."""
    span_ms = max(1, int((end - start) / timedelta(milliseconds=1)))
    return start + timedelta(milliseconds=rng.randrange(span_ms))
