"""Command-line number types shared by the backtest commands (`pulse evaluate`, `pulse
tune`): a bad value is refused by argparse with the reason, never scored."""

from __future__ import annotations

import argparse
import math


def _number(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        msg = f"expected a number, got {value!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not math.isfinite(number):
        msg = f"expected a finite number, got {value!r}"
        raise argparse.ArgumentTypeError(msg)
    return number


def positive_days(value: str) -> float:
    """Days that must be above 0 (a horizon)."""
    number = _number(value)
    if not number > 0:
        msg = f"must be above 0, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return number


def days_or_none(value: str) -> float:
    """Days that may be 0 but not negative (a warmup)."""
    number = _number(value)
    if number < 0:
        msg = f"must be 0 or more, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return number


def team_size(value: str) -> int:
    """A number of people: a whole number of at least 1."""
    try:
        number = int(value)
    except ValueError:
        msg = f"expected a whole number, got {value!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if number < 1:
        msg = f"must be at least 1, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return number
