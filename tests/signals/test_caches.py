"""The core's transient caches (metric memo, health memo, settled rules) change no answer."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from signals.config import SignalsConfig
from signals.core import SignalProcessor
from signals.ingest import AccountEvent
from signals.rules import RuleSet, default_rules
from signals.rules.loader import textbook_rules
from signals.state import AccountState
from tests.signals.conftest import CORE
from tests.signals.factories import (
    ACCOUNT,
    MONDAY,
    at,
    billing,
    login,
    nps,
    profile,
    subscription,
    ticket,
    usage,
)
from topics.models import Trigger

DAYS = 45


def _account(seed: int) -> list[AccountEvent]:
    """A busy account whose health crosses bands: usage, tickets, payments, surveys."""
    rng = random.Random(seed)
    renewal = (MONDAY + timedelta(days=rng.randint(40, 120))).date()
    events: list[AccountEvent] = [
        subscription(at(0, 1), seats=10, renewal=renewal),
        profile(at(0, 2), executive_sponsor=rng.random() < 0.5, acv=50_000.0),
    ]
    for day in range(DAYS):
        active = rng.randint(0, 9) if day % 11 else 0
        for user in rng.sample(range(12), k=active):
            events.append(login(at(day, rng.uniform(6, 20)), user=f"u{user}"))
            for _ in range(rng.randint(0, 3)):
                feature = rng.choice(CORE)
                events.append(usage(feature, at(day, rng.uniform(6, 20)), user=f"u{user}"))
        if rng.random() < 0.3:
            priority = rng.choice(["low", "normal", "high", "urgent"])
            events.append(ticket("opened", at(day, 9), f"t{day}", priority=priority))
        if rng.random() < 0.2 and day > 2:
            solved = f"t{rng.randint(0, day - 1)}"
            events.append(ticket("solved", at(day, 10), solved, csat=rng.randint(1, 5)))
        if rng.random() < 0.1:
            events.append(nps(rng.randint(0, 10), at(day, 11), respondent=f"r{day % 4}"))
        if rng.random() < 0.08:
            events.append(billing("payment_failed", at(day, 12), invoice_id=f"i{day // 10}"))
        if rng.random() < 0.05:
            events.append(billing("payment_recovered", at(day, 13), invoice_id=f"i{day // 10}"))
        if rng.random() < 0.1:
            events.append(usage("Referral Sent", at(day, 14), user="u1"))
    return sorted(events, key=lambda e: (e.occurred_at, e.event_id))


def _forget_caches(state: AccountState) -> None:
    state.memo.clear()
    state.health_memo = None
    state.settled = None


def _run(
    events: list[AccountEvent], config: SignalsConfig, rules: RuleSet, *, cached: bool
) -> tuple[list[Trigger], bytes]:
    """Daily ticks and every event; without ``cached`` each call starts with cold caches."""
    processor = SignalProcessor(config, rules)
    state = AccountState(ACCOUNT)
    fired: list[Trigger] = []
    midnight = MONDAY + timedelta(days=1)
    for event in events:
        while event.occurred_at >= midnight:
            if not cached:
                _forget_caches(state)
            fired += processor.tick(state, midnight).triggers
            midnight += timedelta(days=1)
        if not cached:
            _forget_caches(state)
        fired += processor.apply(state, event, event.occurred_at + timedelta(minutes=5)).triggers
    return fired, state.to_bytes()


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_caches_change_no_trigger_and_no_state(config: SignalsConfig, seed: int) -> None:
    """The textbook rules fire often on this scenario, so the caches are exercised."""
    events = _account(seed)
    rules = textbook_rules()
    fired, state = _run(events, config, rules, cached=True)
    # the scenario exercises many rules: alerts, and reasons that joined an open episode
    evaluated = {entry[1] for entry in AccountState.from_bytes(state).fired}
    assert len(evaluated) >= 6, evaluated
    assert {t.rule_id for t in fired} < evaluated
    assert (fired, state) == _run(events, config, rules, cached=False)


@pytest.mark.parametrize("seed", [1, 2])
def test_caches_change_nothing_under_the_defaults(config: SignalsConfig, seed: int) -> None:
    """The defaults' gating (observed days, provisional health, the open episode, joined
    reasons) reads cached values too: caching must change none of it."""
    events = _account(seed)
    fired, state = _run(events, config, default_rules(), cached=True)
    assert fired  # something fires (and more joins the conversation silently)
    assert (fired, state) == _run(events, config, default_rules(), cached=False)


@pytest.mark.parametrize("seed", [1, 2])
def test_days_encoded_once_are_written_as_they_are_now(config: SignalsConfig, seed: int) -> None:
    """A worker writes an account's state after every change, reusing each day's encoding
    until the day changes: what it writes must equal a fresh encoding at every step,
    also after the state was read back (as a worker reloads it) and past retention."""
    processor = SignalProcessor(config, default_rules())
    state = AccountState(ACCOUNT)
    midnight = MONDAY + timedelta(days=1)
    for n, event in enumerate(_account(seed)):
        while event.occurred_at >= midnight:
            processor.tick(state, midnight)
            midnight += timedelta(days=1)
        processor.apply(state, event, event.occurred_at + timedelta(minutes=5))
        written = state.to_bytes()
        assert written == state.to_bytes(cached=False), f"after event {n}: {event.event_id}"
        if n % 7 == 0:
            state = AccountState.from_bytes(written)
    assert min(state.buckets) > MONDAY.toordinal()  # the first days were pruned on the way
