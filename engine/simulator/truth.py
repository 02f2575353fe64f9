"""Ground truth per simulated account: what it is, and when (if ever) it cancelled."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.simulator.population import Persona
from engine.simulator.realistic.archetypes import Archetype


@dataclass(frozen=True)
class AccountTruth:
    persona: Persona | Archetype
    segment: str
    plan: str
    seats: int
    mrr: float
    cancelled_at: datetime | None
    details: Mapping[str, Any] = field(default_factory=dict)
    """Preset-specific facts added to the truth file (contract, expansion, ...)."""
