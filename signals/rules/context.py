"""What a condition sees when it is evaluated, and what it answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from signals.config import SignalsConfig
from signals.health import HEALTH_VALUES, HealthScore
from signals.ingest import AccountEvent
from signals.metrics import memoised
from signals.state import AccountState, micros
from topics.models import Evidence


@dataclass(slots=True)
class RuleContext:
    """One evaluation of an account's rules as of an event time; metrics come memoised.

    ``values`` caches every metric read at this ``as_of``, so rules sharing a metric
    (and the health score's inputs) pay one dictionary lookup for it.
    """

    state: AccountState
    as_of: datetime
    config: SignalsConfig
    event: AccountEvent | None = None
    health: HealthScore | None = None
    values: dict[str, float | None] = field(default_factory=dict)
    now_us: int = -1
    today: int = -1

    def __post_init__(self) -> None:
        self.now_us = micros(self.as_of)
        self.today = self.as_of.toordinal()

    def metric(self, name: str) -> float | None:
        values = self.values
        if name in values:
            return values[name]
        by_day = self.state.memo.get(name)
        if by_day is not None:  # the memo's hit path, inlined: most reads end here
            hit = by_day.get(self.today)
            if hit is not None:
                values[name] = hit[0]
                return hit[0]
        from_health = HEALTH_VALUES.get(name)
        if from_health is not None:
            if self.health is None:
                msg = f"metric {name!r} read before the health score was computed"
                raise LookupError(msg)
            value = from_health(self.state, self.health)
        else:
            value = memoised(name, self.state, self.as_of, self.config)
        values[name] = value
        return value


class Fact(NamedTuple):
    """Evidence as plain values: the pydantic ``Evidence`` is built only when a rule fires."""

    metric: str
    value: float | None
    threshold: float | None
    comparison: str
    window: str
    detail: str = ""

    def to_evidence(self) -> Evidence:
        return Evidence(
            metric=self.metric,
            value=self.value,
            threshold=self.threshold,
            comparison=self.comparison,
            window=self.window,
            detail=self.detail,
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a condition holds, the facts that say so, and its episode key if it has one."""

    holds: bool
    facts: tuple[Fact, ...] = ()
    episode: str | None = None

    def evidence(self) -> list[Evidence]:
        return [fact.to_evidence() for fact in self.facts]


FALSE = Verdict(holds=False)
