"""The simulation: a customer base's quarter as one deterministic stream of Kafka records.

Pure and reproducible: all randomness comes from ``random.Random`` streams
seeded by the run's seed, and time is the simulated calendar, never the wall
clock. Memory stays flat in the length of the period: accounts are rendered a
day at a time and a heap holds only messages not yet due (late, duplicated,
or later steps of a ticket's life).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any, NamedTuple, Protocol

import orjson

from engine.simulator.activity import AccountActivity, Draft
from engine.simulator.faults import Fault, FaultInjector
from engine.simulator.personas import script_for
from engine.simulator.population import DEFAULT_PERSONA_MIX, Persona, build_account
from engine.simulator.product import CORE_FEATURES
from engine.simulator.realistic.build import build_population
from engine.simulator.realistic.outages import Outages
from engine.simulator.truth import AccountTruth
from topics.catalogue import TopicKind

__all__ = ["DEFAULT_START", "PRESETS", "AccountTruth", "Record", "Simulation", "SimulationConfig"]

DEFAULT_START = datetime(2026, 7, 1, tzinfo=UTC)

PRESETS = ("easy", "realistic")
"""``easy``: personas that make every rule fire (the default of the API, the tests and the
demo); ``realistic``: a harder, realistic population (the CLI's default, see
:mod:`engine.simulator.realistic`)."""

_LOOKAHEAD = timedelta(hours=12)
"""A day's messages may be dated up to this long before its UTC midnight (offices east of UTC)."""


class Record(NamedTuple):
    """One message on the stream: topic, Kafka key, value, and when it is sent (simulated)."""

    kind: TopicKind
    key: bytes
    value: bytes
    sent_at: datetime
    fault: Fault | None = None
    """Why this record is not an ordinary on-time message, for tests and writers."""


@dataclass(frozen=True)
class SimulationConfig:
    """Everything a run depends on; the same config always yields byte-identical records."""

    accounts: int = 1000
    days: int = 90
    seed: int = 7
    start: datetime = DEFAULT_START
    persona_mix: Mapping[Persona, float] = field(default_factory=lambda: dict(DEFAULT_PERSONA_MIX))
    segment_share: float = 0.5
    """Share of accounts whose usage arrives as Segment track/group calls."""
    stripe_share: float = 0.5
    """Share of accounts whose billing arrives as Stripe events."""
    user_only_share: float = 0.3
    """Share of a Segment account's track calls that carry only userId."""
    late_rate: float = 0.02
    duplicate_rate: float = 0.01
    malformed_rate: float = 0.001
    preset: str = "easy"
    """Which population: ``easy`` (personas, `persona_mix`) or ``realistic``."""

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            msg = f"preset must be one of {', '.join(PRESETS)}, got {self.preset!r}"
            raise ValueError(msg)
        if self.accounts < 1 or self.days < 1:
            raise ValueError("accounts and days must be at least 1")
        if self.start.tzinfo is None or self.start.utcoffset() != timedelta(0):
            raise ValueError("start must be a UTC datetime")
        if self.start != self.start.replace(hour=0, minute=0, second=0, microsecond=0):
            raise ValueError("start must be a midnight (UTC)")
        shares = {
            "segment_share": self.segment_share,
            "stripe_share": self.stripe_share,
            "user_only_share": self.user_only_share,
            "late_rate": self.late_rate,
            "duplicate_rate": self.duplicate_rate,
            "malformed_rate": self.malformed_rate,
        }
        for name, value in shares.items():
            if not 0 <= value <= 1:
                msg = f"{name} must be between 0 and 1, got {value}"
                raise ValueError(msg)
        if any(w < 0 for w in self.persona_mix.values()) or sum(self.persona_mix.values()) <= 0:
            raise ValueError("persona weights must be non-negative and not all zero")

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)


class _Renders(Protocol):
    """One account's renderer, whichever preset built it."""

    @property
    def account_id(self) -> str: ...
    def day(self, index: int) -> list[Draft]: ...
    def truth(self) -> AccountTruth: ...


class Simulation:
    """A configured run: its ground truth at once, its records as a stream."""

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        start = config.start.date()
        self._activities: list[_Renders] = []
        self._outages: Outages | None = None
        if config.preset == "realistic":
            realistic, self._outages = build_population(
                accounts=config.accounts,
                seed=config.seed,
                start=start,
                days=config.days,
                segment_share=config.segment_share,
                stripe_share=config.stripe_share,
                user_only_share=config.user_only_share,
            )
            self._activities.extend(realistic)
            return
        for index in range(config.accounts):
            account = build_account(
                index,
                seed=config.seed,
                start=start,
                mix=config.persona_mix,
                segment_share=config.segment_share,
                stripe_share=config.stripe_share,
            )
            script = script_for(account, start, config.days)
            self._activities.append(AccountActivity(account, script, start, config.user_only_share))

    def truth(self) -> dict[str, AccountTruth]:
        """Per account: persona, segment, plan, seats, MRR and when it cancelled (or None)."""
        return {a.account_id: a.truth() for a in self._activities}

    def truth_document(self) -> dict[str, Any]:
        """The truth file: the run's parameters, the core feature list, and every account.

        The realistic preset adds its tracking outages and, per account, its
        contract, entry, conversion, expansion and planned cancellation.
        """
        config = self.config
        document: dict[str, Any] = {
            "preset": config.preset,
            "seed": config.seed,
            "start": config.start,
            "days": config.days,
            "core_features": list(CORE_FEATURES),
        }
        if self._outages is not None:
            document["outages"] = self._outages.document(config.start.date())
        document["accounts"] = {
            account_id: {
                "persona": t.persona.value,
                "segment": t.segment,
                "plan": t.plan,
                "seats": t.seats,
                "mrr": t.mrr,
                "cancelled_at": t.cancelled_at,
                **t.details,
            }
            for account_id, t in self.truth().items()
        }
        return document

    def records(self) -> Iterator[Record]:
        """Every record in stream order: event time, except where a fault delays a message."""
        config = self.config
        faults = FaultInjector(
            random.Random(f"{config.seed}:faults"),  # noqa: S311 - simulation, not security
            late_rate=config.late_rate,
            duplicate_rate=config.duplicate_rate,
            malformed_rate=config.malformed_rate,
        )
        pending: list[tuple[datetime, int, Record]] = []
        order = count()
        start, end = config.start, config.end
        for index in range(config.days):
            for activity in self._activities:
                for draft in activity.day(index):
                    if not start <= draft.at < end:
                        continue
                    value = orjson.dumps(draft.message)
                    key = draft.key.encode()
                    for emission in faults.emissions(draft.at, value, draft.message):
                        record = Record(
                            draft.kind, key, emission.value, emission.at, emission.fault
                        )
                        heapq.heappush(pending, (emission.at, next(order), record))
            due = config.start + timedelta(days=index + 1) - _LOOKAHEAD
            while pending and pending[0][0] < due:
                yield heapq.heappop(pending)[2]
        while pending:
            yield heapq.heappop(pending)[2]
