"""Holidays: silence across the year-end break is counted without it."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from signals.config import SignalsConfig, load_config
from signals.errors import ConfigError
from signals.holidays import holidays_between, parse_holiday
from signals.ingest import StateFolder
from signals.metrics import evaluate
from signals.state import AccountState
from tests.signals.factories import ACCOUNT, login

YEAR_END = ("12-24..01-01",)


def _day(year: int, month: int, day: int) -> int:
    return date(year, month, day).toordinal()


def test_a_range_may_wrap_the_year_end() -> None:
    assert parse_holiday("12-24..01-01") == ((12, 24), (1, 1))
    assert parse_holiday(" 08-01 .. 08-15 ") == ((8, 1), (8, 15))
    assert parse_holiday("02-29..02-29") == ((2, 29), (2, 29))
    assert parse_holiday("11-01..12-31") == ((11, 1), (12, 31))  # 61 days: allowed


@pytest.mark.parametrize(
    ("first", "last", "holidays", "expected"),
    [
        ((2025, 12, 20), (2026, 1, 5), YEAR_END, 9),  # 24..31 December and 1 January
        ((2025, 12, 26), (2025, 12, 27), YEAR_END, 2),
        ((2026, 1, 2), (2026, 12, 23), YEAR_END, 0),
        ((2025, 12, 1), (2027, 1, 31), YEAR_END, 18),  # two breaks
        ((2026, 7, 20), (2026, 8, 20), ("08-01..08-15",), 15),
        ((2025, 12, 20), (2026, 1, 5), (), 0),
    ],
)
def test_holidays_between_counts_the_days_of_the_ranges(
    first: tuple[int, int, int],
    last: tuple[int, int, int],
    holidays: tuple[str, ...],
    expected: int,
) -> None:
    assert holidays_between(_day(*first), _day(*last), holidays) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("christmas", "expected a range MM-DD..MM-DD"),
        ("12-24", "expected a range MM-DD..MM-DD"),
        ("12-32..01-01", "'12-32' is not a day of the year"),
        ("13-01..01-01", "'13-01' is not a day of the year"),
        ("12-24..01-01..02-01", "expected a range"),
        ("01-07..01-01", "361 days, more than 62"),  # the first week, written backwards
        ("12-25..12-24", "366 days, more than 62"),
        ("06-01..08-15", "76 days, more than 62"),
    ],
)
def test_a_holiday_that_is_no_range_is_refused_with_the_reason(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_holiday(text)
    with pytest.raises(ConfigError, match="holidays"):
        load_config({"lifecycle": {"holidays": [text]}})


def _silent_days(config: SignalsConfig, last_active: datetime, as_of: datetime) -> float | None:
    folder = StateFolder(config)
    state = AccountState(ACCOUNT)
    folder.apply(state, login(last_active), now=last_active)
    return evaluate("silent_days", state, as_of, config)


def test_silent_days_leave_the_break_out_and_days_since_activity_do_not() -> None:
    config = SignalsConfig()
    last = datetime(2026, 12, 18, 9, tzinfo=UTC)
    back_to_work = datetime(2027, 1, 3, tzinfo=UTC)  # 16 days on, 9 of them holidays
    assert _silent_days(config, last, back_to_work) == 7
    state = AccountState(ACCOUNT)
    StateFolder(config).apply(state, login(last), now=last)
    assert evaluate("days_since_last_activity", state, back_to_work, config) == 16
    autumn = datetime(2026, 10, 1, 9, tzinfo=UTC)
    assert _silent_days(config, autumn, datetime(2026, 10, 17, tzinfo=UTC)) == 16


def test_without_holidays_every_silent_day_counts() -> None:
    config = SignalsConfig.model_validate({"lifecycle": {"holidays": []}})
    last = datetime(2026, 12, 18, 9, tzinfo=UTC)
    assert _silent_days(config, last, datetime(2027, 1, 3, tzinfo=UTC)) == 16
