"""What a condition sees when it is evaluated, and what it answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from signals.config import SignalsConfig
from signals.health import HealthScore
from signals.ingest import AccountEvent
from signals.metrics import memoised
from signals.state import AccountState
from topics.models import Evidence


@dataclass(slots=True)
class RuleContext:
    """One evaluation of an account's rules as of an event time; metrics come memoised."""

    state: AccountState
    as_of: datetime
    config: SignalsConfig
    event: AccountEvent | None = None
    health: HealthScore | None = None
    health_values: Mapping[str, float | None] = field(default_factory=dict)

    def metric(self, name: str) -> float | None:
        if name in self.health_values:
            return self.health_values[name]
        return memoised(name, self.state, self.as_of, self.config)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a condition holds, the evidence for it, and its episode key if it has one."""

    holds: bool
    evidence: tuple[Evidence, ...] = ()
    episode: str | None = None


FALSE = Verdict(holds=False)
