"""Shared runs: an easy quarter with every persona and frequent faults, and a realistic run."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import pytest

from engine.simulator import Persona, Record, Simulation, SimulationConfig
from topics.catalogue import TopicKind
from topics.codec import decode_input
from topics.errors import PulseValidationError
from topics.models import BillingEvent, InputEvent, UsageEvent, UserLink

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


@dataclass
class RealisticRun:
    """A realistic run through the generator, faults and all; billing decoded."""

    config: SimulationConfig
    simulation: Simulation
    records: list[Record]
    billing: dict[str, list[BillingEvent]]
    """Per account, its billing events once each (duplicates and malformed copies dropped)."""


@pytest.fixture(scope="session")
def realistic_run() -> RealisticRun:
    config = SimulationConfig(preset="realistic", accounts=90, days=100, seed=11)
    simulation = Simulation(config)
    records = list(simulation.records())
    billing: dict[str, list[BillingEvent]] = defaultdict(list)
    seen: set[str] = set()
    for record in records:
        if record.kind is not TopicKind.BILLING or record.fault == "malformed":
            continue
        event = decode_input(record.kind, record.value)
        if isinstance(event, BillingEvent) and event.event_id not in seen:
            seen.add(event.event_id)
            billing[event.account_id].append(event)
    for events in billing.values():
        events.sort(key=lambda e: e.occurred_at)
    return RealisticRun(config, simulation, records, billing)
