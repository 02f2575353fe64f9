"""Command-line number types shared by the backtest commands (`pulse evaluate`, `pulse
tune`, `pulse peers`): a bad value is refused by argparse with the reason, never used."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TypeVar

_N = TypeVar("_N", int, float)


def _checked(
    value: str, parse: Callable[[str], _N], what: str, ok: Callable[[_N], bool], need: str
) -> _N:
    """``value`` parsed as ``what``, refused unless finite and ``ok`` (``need`` says how)."""
    try:
        number = parse(value)
    except ValueError:
        msg = f"expected {what}, got {value!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not math.isfinite(number):
        msg = f"expected a finite number, got {value!r}"
        raise argparse.ArgumentTypeError(msg)
    if not ok(number):
        msg = f"must be {need}, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return number


def positive_days(value: str) -> float:
    """Days that must be above 0 (a horizon)."""
    return _checked(value, float, "a number", lambda n: n > 0, "above 0")


def days_or_none(value: str) -> float:
    """Days that may be 0 but not negative (a warmup)."""
    return _checked(value, float, "a number", lambda n: n >= 0, "0 or more")


def at_least_one(value: str) -> int:
    """A count of people or accounts: a whole number of at least 1."""
    return _checked(value, int, "a whole number", lambda n: n >= 1, "at least 1")


team_size = at_least_one
"""CSMs sharing the alerts."""
