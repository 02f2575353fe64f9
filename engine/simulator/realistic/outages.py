"""Tracking outages: days on which usage events never arrive, though people kept working.

A broken Segment source drops the usage of every account that sends usage
through Segment for 2-4 days; in periods of 60 days or more a pipeline outage
later drops everyone's usage for 2-3 days. Billing, tickets and surveys flow
as usual. The outages depend only on the run's seed and length, never on how
many accounts there are.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

Scope = Literal["segment", "all"]


@dataclass(frozen=True)
class Outage:
    first_day: int
    days: int
    scope: Scope

    def covers(self, day: int, segment_shape: bool) -> bool:
        in_window = self.first_day <= day < self.first_day + self.days
        return in_window and (self.scope == "all" or segment_shape)


class Outages:
    """The run's outages, and whether an account's usage is lost on a day."""

    def __init__(self, seed: int, days: int) -> None:
        rng = random.Random(f"{seed}:outages")  # noqa: S311 - simulation, not security
        self.outages: list[Outage] = []
        if days >= 14:
            length = rng.randint(2, 4)
            first = rng.randint(int(0.15 * days), max(int(0.15 * days), int(0.45 * days) - length))
            self.outages.append(Outage(first, length, "segment"))
        if days >= 60:
            length = rng.randint(2, 3)
            first = rng.randint(int(0.55 * days), int(0.9 * days) - length)
            self.outages.append(Outage(first, length, "all"))

    def hides(self, day: int, segment_shape: bool) -> bool:
        return any(outage.covers(day, segment_shape) for outage in self.outages)

    def document(self, start: date) -> list[dict[str, Any]]:
        """For the truth file: each outage's first and last day (inclusive) and scope."""
        return [
            {
                "first_day": start + timedelta(days=o.first_day),
                "last_day": start + timedelta(days=o.first_day + o.days - 1),
                "scope": o.scope,
            }
            for o in self.outages
        ]
