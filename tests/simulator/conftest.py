"""One simulated quarter shared by the simulator tests: every persona, faults frequent enough."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import pytest

from engine.simulator import Persona, Record, Simulation, SimulationConfig
from topics.codec import decode_input
from topics.errors import PulseValidationError
from topics.models import InputEvent, UsageEvent, UserLink

EVEN_MIX = {persona: 1.0 for persona in Persona}


@dataclass
class Quarter:
    config: SimulationConfig
    simulation: Simulation
    records: list[Record]
    events: list[InputEvent | None] = field(default_factory=list)
    """Decoded record by record; None where the record did not decode."""

    def by_account(self) -> dict[str, list[InputEvent]]:
        """Well-formed events per account, once each, user-only usage resolved via group calls.

        A late group call may arrive after the calls it resolves (the engine parks
        those), so links are collected over the whole stream first.
        """
        links = {e.user_id: e.account_id for e in self.events if isinstance(e, UserLink)}
        seen: set[str] = set()
        grouped: dict[str, list[InputEvent]] = defaultdict(list)
        for event in self.events:
            if event is None or event.event_id in seen or isinstance(event, UserLink):
                continue
            seen.add(event.event_id)
            account = event.account_id
            if isinstance(event, UsageEvent) and account is None and event.user_id is not None:
                account = links[event.user_id]
            grouped[str(account)].append(event)
        return grouped


@pytest.fixture(scope="session")
def quarter() -> Quarter:
    config = SimulationConfig(
        accounts=140,
        persona_mix=EVEN_MIX,
        late_rate=0.05,
        duplicate_rate=0.03,
        malformed_rate=0.01,
    )
    simulation = Simulation(config)
    result = Quarter(config, simulation, list(simulation.records()))
    for record in result.records:
        try:
            result.events.append(decode_input(record.kind, record.value))
        except PulseValidationError:
            result.events.append(None)
    return result
