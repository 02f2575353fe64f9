"""Holidays: the days a whole book falls quiet, so that silence over them is no news.

A holiday is a range of calendar days that comes back every year, written
``MM-DD..MM-DD``; a range may wrap the year end (``12-24..01-01``). The default is
the break between Christmas Eve and New Year's Day, when B2B teams everywhere stop
at once: a small team silent for two weeks across it is on holiday, not gone. Days
are proleptic ordinals, as everywhere in the core; nothing here reads a clock.
"""

from __future__ import annotations

from datetime import date
from functools import cache

__all__ = ["DayOfYear", "holidays_between", "parse_holiday"]

DayOfYear = tuple[int, int]
"""(month, day)."""
_LEAP = 2000
"""A leap year: 02-29 is a day of the calendar, and a range may name it."""
MAX_DAYS = 62
"""A holiday longer than two months is no holiday but a typo (``01-07..01-01`` for the
first week of January reads as wrapping the year: 360 days) that would silence every
rule that reads it, so it is refused."""


def parse_holiday(text: str) -> tuple[DayOfYear, DayOfYear]:
    """``"12-24..01-01"`` as ((12, 24), (1, 1)); ValueError saying what is wrong."""
    parts = text.split("..")
    if len(parts) != 2:
        msg = f"holiday {text!r}: expected a range MM-DD..MM-DD, such as 12-24..01-01"
        raise ValueError(msg)
    first, last = (_day_of_year(part.strip(), text) for part in parts)
    start, end = date(_LEAP, *first), date(_LEAP, *last)
    days = (end - start).days + 1 if end >= start else (end - start).days + 367
    if days > MAX_DAYS:
        msg = (
            f"holiday {text!r}: {days} days, more than {MAX_DAYS}; a range runs forward "
            "from its first day (12-24..01-01 wraps the year end)"
        )
        raise ValueError(msg)
    return first, last


def _day_of_year(part: str, text: str) -> DayOfYear:
    month, _, day = part.partition("-")
    try:
        when = date(_LEAP, int(month), int(day))
    except ValueError:
        msg = f"holiday {text!r}: {part!r} is not a day of the year (MM-DD)"
        raise ValueError(msg) from None
    return when.month, when.day


@cache
def _ranges(holidays: tuple[str, ...]) -> tuple[tuple[DayOfYear, DayOfYear], ...]:
    return tuple(parse_holiday(text) for text in holidays)


def is_holiday(day: int, holidays: tuple[str, ...]) -> bool:
    when = date.fromordinal(day)
    key = (when.month, when.day)
    for first, last in _ranges(holidays):
        within = first <= key <= last if first <= last else key >= first or key <= last
        if within:
            return True
    return False


def holidays_between(first: int, last: int, holidays: tuple[str, ...]) -> int:
    """How many of the days ``first..last`` (inclusive) are holidays."""
    if not holidays:
        return 0
    return sum(is_holiday(day, holidays) for day in range(first, last + 1))
