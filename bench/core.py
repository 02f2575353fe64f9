"""Benchmarks of the pure signals core, kept out of the test run.

Run: ``.venv/bin/python -m bench.core``; prints one table. The accounts are synthetic
but plausible: every day two thirds of the users sign in and use core features, and
about one day in five opens a ticket. Rates are the best of a few runs, in CPU time of
this process (one core), so other load on the machine does not skew them.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from signals.config import SignalsConfig, UsageMapping
from signals.core import SignalProcessor
from signals.ingest import AccountEvent, StateFolder
from signals.rules import default_rules
from signals.state import AccountState
from topics.codec import decode_billing, decode_tickets, decode_usage, encode
from topics.models import BillingEvent, TicketEvent, UsageEvent

Scalar = str | int | float | bool | None
ACCOUNT = "acme"
START = datetime(2026, 8, 3, tzinfo=UTC)
"""A Monday: day 0 of every synthetic account."""
CORE = ("Report Exported", "Dashboard Shared", "Alert Created", "Query Run", "Export Scheduled")
CONFIG = SignalsConfig(usage=UsageMapping(core_features=CORE))
RULES = default_rules()
LATE = timedelta(minutes=1)
"""Each event is applied this long after it occurred."""


def account_events(users: int, days: int, per_user_day: int, seed: int = 7) -> list[AccountEvent]:
    """One account over ``days`` days: a subscription, daily sign-ins and feature use, tickets."""
    rng = random.Random(seed)  # noqa: S311  # synthetic data, no secrets
    ids = iter(range(10**9))

    def at(day: int) -> datetime:
        return START + timedelta(days=day, hours=rng.uniform(6, 20))

    events: list[AccountEvent] = [
        BillingEvent(
            event_id=f"e{next(ids)}",
            occurred_at=START,
            account_id=ACCOUNT,
            action="subscription_started",
            seats_purchased=users + 5,
            mrr=1000.0,
            renewal_date=date(2027, 1, 1),
        )
    ]
    for day in range(days):
        for user in rng.sample(range(users), k=max(1, users * 2 // 3)):
            user_id = f"user-{user}"
            events.append(_usage("Signed In", at(day), user_id, f"e{next(ids)}", {}))
            for _ in range(per_user_day - 1):
                feature: dict[str, Scalar] = {"feature": rng.choice(CORE)}
                events.append(_usage("Feature Used", at(day), user_id, f"e{next(ids)}", feature))
        if rng.random() < 0.2:
            events.append(
                TicketEvent(
                    event_id=f"e{next(ids)}",
                    occurred_at=START + timedelta(days=day, hours=9),
                    account_id=ACCOUNT,
                    ticket_id=f"t{day}",
                    action="opened",
                    priority="normal",
                )
            )
    return sorted(events, key=lambda e: (e.occurred_at, e.event_id))


def _usage(
    name: str, when: datetime, user: str, event_id: str, properties: dict[str, Scalar]
) -> UsageEvent:
    return UsageEvent(
        event_id=event_id,
        occurred_at=when,
        account_id=ACCOUNT,
        user_id=user,
        name=name,
        properties=properties,
    )


def fold(events: list[AccountEvent]) -> AccountState:
    folder = StateFolder(CONFIG)
    state = AccountState(ACCOUNT)
    for event in events:
        folder.apply(state, event, event.occurred_at + LATE)
    return state


def process(events: list[AccountEvent]) -> AccountState:
    processor = SignalProcessor(CONFIG, RULES)
    state = AccountState(ACCOUNT)
    for event in events:
        processor.apply(state, event, event.occurred_at + LATE)
    return state


_DECODERS: dict[str, Callable[[bytes], AccountEvent]] = {
    "track": decode_usage,  # type: ignore[dict-item]  # no UserLinks among these events
    "ticket": decode_tickets,
    "billing": decode_billing,
}


def decode_and_process(messages: list[tuple[str, bytes]]) -> AccountState:
    """What a worker does per message: decode and validate the bytes, then apply."""
    processor = SignalProcessor(CONFIG, RULES)
    state = AccountState(ACCOUNT)
    for kind, raw in messages:
        event = _DECODERS[kind](raw)
        processor.apply(state, event, event.occurred_at + LATE)
    return state


def replay_with_ticks(events: list[AccountEvent]) -> tuple[float, int]:
    """Apply a day's events, then tick at the next midnight; returns (tick seconds, ticks)."""
    processor = SignalProcessor(CONFIG, RULES)
    state = AccountState(ACCOUNT)
    spent, ticks = 0.0, 0
    midnight = START + timedelta(days=1)
    for event in events:
        while event.occurred_at >= midnight:
            started = time.process_time()
            processor.tick(state, midnight)
            spent += time.process_time() - started
            ticks += 1
            midnight += timedelta(days=1)
        processor.apply(state, event, event.occurred_at + LATE)
    return spent, ticks


def best_of(run: Callable[[], object], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return best


def main() -> None:
    typical = account_events(users=30, days=60, per_user_day=5)
    large = account_events(users=2000, days=60, per_user_day=2)
    messages: list[tuple[str, bytes]] = [(event.type, encode(event)) for event in typical]
    rows: list[tuple[str, str]] = []
    for label, events in (("typical: 30 users, 60 days", typical), ("large: 2,000 users", large)):
        rows.append((f"state bytes, {label}", f"{len(fold(events).to_bytes()):,}"))
    for label, run in (
        ("StateFolder.apply events/s", lambda: fold(typical)),
        ("SignalProcessor.apply events/s", lambda: process(typical)),
        ("decode + SignalProcessor.apply events/s", lambda: decode_and_process(messages)),
    ):
        rows.append((f"{label} (typical)", f"{len(typical) / best_of(run):,.0f}"))
    spent, ticks = min(replay_with_ticks(typical) for _ in range(3))
    rows.append(("SignalProcessor.tick µs per account (typical)", f"{spent / ticks * 1e6:,.1f}"))
    state = process(typical)
    data = state.to_bytes()
    rows.append(("state bytes, typical after rules and health", f"{len(data):,}"))
    serialise: tuple[tuple[str, Callable[[], object]], ...] = (
        ("AccountState.to_bytes µs (typical, processed)", state.to_bytes),
        ("AccountState.from_bytes µs (typical, processed)", lambda: AccountState.from_bytes(data)),
    )
    for label, once in serialise:
        rows.append((label, f"{best_of(once, repeat=200) * 1e6:,.1f}"))
    width = max(len(label) for label, _ in rows)
    print(f"{'measure':<{width}}  {'value':>12}")
    for label, value in rows:
        print(f"{label:<{width}}  {value:>12}")


if __name__ == "__main__":
    main()
