"""Benchmarks of the signals core, kept out of the test run.

Run: ``.venv/bin/python -m tests.signals.bench_signals``; prints a table.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import timedelta

from signals.config import SignalsConfig, UsageMapping
from signals.core import SignalProcessor
from signals.ingest import AccountEvent, StateFolder
from signals.rules import default_rules
from signals.state import AccountState
from tests.signals.factories import ACCOUNT, at, subscription, ticket, usage

CORE = ("Report Exported", "Dashboard Shared", "Alert Created", "Query Run", "Export Scheduled")
CONFIG = SignalsConfig(usage=UsageMapping(core_features=CORE))


def account_events(users: int, days: int, per_user_day: int, seed: int = 7) -> list[AccountEvent]:
    """A plausible account: logins, core-feature use and the odd ticket, over ``days`` days."""
    rng = random.Random(seed)
    events: list[AccountEvent] = [subscription(at(-days), seats=users + 5)]
    for day in range(-days + 1, 1):
        for user in rng.sample(range(users), k=max(1, users * 2 // 3)):
            events.append(usage("Signed In", at(day, rng.uniform(6, 20)), user=f"user-{user}"))
            for _ in range(per_user_day - 1):
                name = "Feature Used"
                when = at(day, rng.uniform(6, 20))
                events.append(usage(name, when, user=f"user-{user}", feature=rng.choice(CORE)))
        if rng.random() < 0.2:
            events.append(ticket("opened", at(day, 9), ticket_id=f"t{day}"))
    return sorted(events, key=lambda e: (e.occurred_at, e.event_id))


def fold(events: list[AccountEvent]) -> AccountState:
    folder = StateFolder(CONFIG)
    state = AccountState(ACCOUNT)
    for event in events:
        folder.apply(state, event, now=event.occurred_at + timedelta(minutes=1))
    return state


RULES = default_rules()


def process(events: list[AccountEvent]) -> AccountState:
    processor = SignalProcessor(CONFIG, RULES)
    state = AccountState(ACCOUNT)
    for event in events:
        processor.apply(state, event, now=event.occurred_at + timedelta(minutes=1))
    return state


def timed(run: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    typical = account_events(users=30, days=60, per_user_day=5)
    large = account_events(users=2000, days=60, per_user_day=2)
    print(f"{'measure':<44} {'value':>14}")
    for label, events in (("typical (30 users, 60 days)", typical), ("large (2,000 users)", large)):
        state = fold(events)
        print(f"{'state bytes, ' + label:<44} {len(state.to_bytes()):>14,}")
    seconds = timed(lambda: fold(typical))
    print(f"{'StateFolder.apply events/s (typical)':<44} {len(typical) / seconds:>14,.0f}")
    seconds = timed(lambda: process(typical))
    print(f"{'SignalProcessor.apply events/s (typical)':<44} {len(typical) / seconds:>14,.0f}")


if __name__ == "__main__":
    main()
