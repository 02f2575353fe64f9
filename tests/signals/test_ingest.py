"""Folding events into state: lateness, dedup, latest-wins facts, pruning, order independence."""

from __future__ import annotations

import random
from datetime import timedelta

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signals.config import SignalsConfig, UsageMapping
from signals.errors import Rejection, SignalsError
from signals.ingest import AccountEvent, StateFolder
from signals.state import (
    CORE_USES,
    FACET_FEATURES,
    FACET_LAST_LOGIN,
    FACET_USERS,
    FORMAT_VERSION,
    LOGINS,
    SEEN_USAGE,
    TICKETS_OPENED,
    AccountState,
    counter_bit,
    micros,
    user_hash,
)
from tests.signals.factories import (
    ACCOUNT,
    at,
    billing,
    login,
    nps,
    profile,
    subscription,
    ticket,
    usage,
)


def test_a_login_lands_in_its_event_time_day(folder: StateFolder, state: AccountState) -> None:
    touched = folder.apply(state, login(at(2), user="ann"), now=at(3))
    assert touched == SEEN_USAGE | FACET_USERS | FACET_LAST_LOGIN | counter_bit(LOGINS)
    bucket = state.buckets[at(2).toordinal()]
    assert bucket.counts[LOGINS] == 1
    assert state.users_of(bucket.users) == {user_hash("ann")}


def test_a_known_user_again_the_same_day_touches_only_counters(
    folder: StateFolder, state: AccountState
) -> None:
    folder.apply(state, login(at(2), user="ann"), now=at(3))
    first = folder.apply(state, usage("Query Run", at(2, 14), user="ann"), now=at(3))
    again = folder.apply(state, usage("Query Run", at(2, 15), user="ann"), now=at(3))
    assert first == SEEN_USAGE | counter_bit(CORE_USES) | FACET_FEATURES
    assert again == SEEN_USAGE | counter_bit(CORE_USES)


def test_a_late_event_is_rejected_with_how_late(folder: StateFolder, state: AccountState) -> None:
    rejection = folder.apply(state, login(at(0), eid="old"), now=at(9))
    assert rejection is not None
    assert (rejection.kind, rejection.event_id) == ("late", "old")
    assert "2 days, 0:00:00 beyond the lateness bound of 7 days" in rejection.message
    assert state == AccountState(ACCOUNT)


def test_a_duplicate_changes_nothing(folder: StateFolder, state: AccountState) -> None:
    folder.apply(state, login(at(1), eid="x"), now=at(1))
    before = state.to_bytes()
    rejection = folder.apply(state, login(at(1), eid="x"), now=at(1))
    assert rejection is not None
    assert rejection.kind == "duplicate"
    assert state.to_bytes() == before


def test_dedup_memory_expires_with_the_lateness_bound(
    folder: StateFolder, state: AccountState
) -> None:
    folder.apply(state, login(at(0), eid="x"), now=at(0))
    folder.apply(state, login(at(10), eid="y"), now=at(10))
    assert list(state.dedup) == [at(10).toordinal()]
    assert len(state.dedup[at(10).toordinal()]) == 1


def test_dedup_memory_is_bounded(state: AccountState) -> None:
    folder = StateFolder(SignalsConfig(dedup_capacity=3))
    for day in range(5):
        folder.apply(state, login(at(day)), now=at(5))
    assert sum(map(len, state.dedup.values())) <= 3
    assert state.buckets[at(4).toordinal()].counts[LOGINS] == 1


def test_buckets_beyond_the_retention_horizon_are_pruned(
    folder: StateFolder, state: AccountState
) -> None:
    folder.apply(state, login(at(0), user="gone"), now=at(0))
    folder.apply(state, login(at(130)), now=at(130))
    assert list(state.buckets) == [at(130).toordinal()]
    assert len(state.user_digests) == 1


def test_latest_billing_fact_wins_by_event_time_not_arrival(
    folder: StateFolder, state: AccountState
) -> None:
    folder.apply(state, subscription(at(2), seats=20), now=at(3))
    folder.apply(state, subscription(at(1), seats=10), now=at(3))
    assert state.fact(state.billing, "seats_purchased") == 20


def test_same_time_facts_tie_break_on_event_id(folder: StateFolder) -> None:
    events = [subscription(at(1), seats=n, eid=f"s{n}") for n in (5, 6, 7)]
    seats = set()
    for order in (events, events[::-1]):
        state = AccountState(ACCOUNT)
        for event in order:
            folder.apply(state, event, now=at(2))
        seats.add(state.fact(state.billing, "seats_purchased"))
    assert len(seats) == 1


def test_ticket_status_follows_the_latest_status_event(
    folder: StateFolder, state: AccountState
) -> None:
    folder.apply(state, ticket("solved", at(2)), now=at(3))
    folder.apply(state, ticket("opened", at(1), priority="urgent"), now=at(3))
    folder.apply(state, ticket("updated", at(1, 13), priority="urgent"), now=at(3))
    assert state.tickets["t1"][0] == 2  # closed
    assert state.buckets[at(1).toordinal()].counts[TICKETS_OPENED] == 1


def test_serialisation_round_trips(folder: StateFolder, state: AccountState) -> None:
    for event in _mixed_events():
        folder.apply(state, event, now=at(6))
    restored = AccountState.from_bytes(state.to_bytes())
    assert restored == state
    assert restored.to_bytes() == state.to_bytes()
    assert restored.dedup == state.dedup


def test_state_of_an_unknown_format_version_is_refused(state: AccountState) -> None:
    raw = orjson.loads(state.to_bytes())
    raw["v"] = FORMAT_VERSION + 1
    with pytest.raises(SignalsError, match=f"format version {FORMAT_VERSION + 1} is unknown"):
        AccountState.from_bytes(orjson.dumps(raw))


FORMAT_1 = (
    b'{"a":"acme","b":[[739895,[1,2,1],"AQ==",[2898024750]]],"bi":{},"c":{},'
    b'"d":[[739895,"St9DZ/luWE8Po4zFg5WmXw=="]],"f":[],"h":[[739895,72.5]],"k":-1,'
    b'"l":[1791288000000000,-1,739895],"n":{},"o":[],"p":{},"pr":{},"q":[],"r":{},'
    b'"s":10754196737,"t":{},"u":"dp9PQg==","z":{}}'
)
"""Written by format 1 after ``x`` (a login) and ``y`` (a core feature) on day 1."""


def test_state_of_format_1_is_read_with_its_ids_still_deduplicated() -> None:
    folder = StateFolder(SignalsConfig(usage=UsageMapping(core_features=("Report Exported",))))
    state = AccountState(ACCOUNT)
    folder.apply(state, login(at(1), eid="x"), now=at(1))
    folder.apply(state, usage("Report Exported", at(1), eid="y"), now=at(1))
    state.health_history[at(1).toordinal()] = 72.5
    restored = AccountState.from_bytes(FORMAT_1)
    # Format 1 did not keep the first event's time: its oldest day's midnight stands in.
    assert restored.first_us == micros(at(1, 0))
    state.first_us = restored.first_us
    assert restored == state
    assert restored.dedup == state.dedup
    rejection = folder.apply(restored, login(at(1), eid="x"), now=at(1))
    assert isinstance(rejection, Rejection)
    assert rejection.kind == "duplicate"


def _mixed_events() -> list[AccountEvent]:
    return [
        login(at(0), user="ann"),
        login(at(1), user="bob"),
        usage("Feature Used", at(1, 3), user="bob", feature="Report Exported"),
        usage("API Calls", at(2), count=500),
        usage("Data Volume Reported", at(2), gb=40.5),
        usage("Upgrade Wall Hit", at(3)),
        ticket("opened", at(1), priority="high"),
        ticket("opened", at(2), ticket_id="t2"),
        ticket("solved", at(3), ticket_id="t2"),
        ticket("rated", at(4), ticket_id="t2", csat=2),
        subscription(at(0), seats=10, renewal=at(60).date()),
        billing("subscription_updated", at(2), seats_purchased=12),
        billing("payment_failed", at(3), invoice_id="in1"),
        billing("payment_recovered", at(4), invoice_id="in1"),
        billing("payment_failed", at(5), invoice_id="in2"),
        nps(9, at(1), respondent="r1"),
        nps(3, at(2), respondent="r1"),
        nps(10, at(2), respondent="r2", role="champion"),
        profile(at(0), csm_owner="cara", acv=50_000.0, executive_sponsor=True),
        profile(at(2), lifecycle_stage="adopted"),
    ]


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(min_value=0, max_value=3))
def test_state_is_the_same_under_any_order_and_duplication(
    shuffle: random.Random, duplicates: int
) -> None:
    folder = StateFolder(SignalsConfig())
    events = _mixed_events()
    reference = AccountState(ACCOUNT)
    for event in events:
        folder.apply(reference, event, now=at(6))
    replayed = events + shuffle.sample(events, duplicates)
    shuffle.shuffle(replayed)
    state = AccountState(ACCOUNT)
    for event in replayed:
        folder.apply(state, event, now=at(6))
    assert state == reference


def test_now_advancing_within_the_bound_does_not_change_facts() -> None:
    folder = StateFolder(SignalsConfig())
    events = sorted(_mixed_events(), key=lambda e: (e.occurred_at, e.event_id))
    fixed, moving = AccountState(ACCOUNT), AccountState(ACCOUNT)
    for event in events:
        folder.apply(fixed, event, now=at(6))
        folder.apply(moving, event, now=event.occurred_at + timedelta(hours=1))
    assert moving == fixed, "what is kept follows the events' time, not the reader's"
    folder.prune(moving, at(6))
    folder.prune(fixed, at(6))
    assert moving == fixed
