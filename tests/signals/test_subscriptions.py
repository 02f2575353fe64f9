"""Several subscriptions per account: MRR and seats add up; cancelled only when none is left."""

from __future__ import annotations

import itertools

import pytest

from signals.config import SignalsConfig
from signals.ingest import StateFolder
from signals.metrics.lifecycle import notice_stands
from signals.state import AccountState, micros
from signals.subscriptions import account_notice
from tests.signals.factories import ACCOUNT, at, billing, subscription
from topics.models import BillingEvent


@pytest.fixture
def folder() -> StateFolder:
    return StateFolder(SignalsConfig())


def _facts(state: AccountState) -> tuple[object, object, object]:
    return tuple(state.fact(state.billing, f) for f in ("mrr", "seats_purchased", "status"))  # type: ignore[return-value]


def test_two_subscriptions_add_up_and_deleting_one_keeps_the_account(folder: StateFolder) -> None:
    state = AccountState(ACCOUNT)
    folder.apply(state, subscription(at(1), seats=10, mrr=100.0, subscription_id="a"), now=at(5))
    folder.apply(state, subscription(at(2), seats=5, mrr=50.0, subscription_id="b"), now=at(5))
    assert _facts(state) == (150.0, 15, "active")

    folder.apply(
        state,
        billing(
            "subscription_cancelled", at(3), subscription_id="a", mrr=100.0, seats_purchased=10
        ),
        now=at(5),
    )
    assert _facts(state) == (50.0, 5, "active")

    folder.apply(state, billing("subscription_cancelled", at(4), subscription_id="b"), now=at(5))
    assert state.fact(state.billing, "status") == "cancelled"


def test_aggregates_do_not_depend_on_arrival_order(folder: StateFolder) -> None:
    events = [
        subscription(at(1), seats=10, mrr=100.0, subscription_id="a", eid="e1"),
        subscription(at(2), seats=5, mrr=50.0, subscription_id="b", eid="e2"),
        subscription(at(3), seats=7, mrr=70.0, subscription_id="a", eid="e3"),
        billing("subscription_cancelled", at(4), subscription_id="b", eid="e4"),
    ]
    outcomes = set()
    for order in itertools.permutations(events):
        state = AccountState(ACCOUNT)
        for event in order:
            folder.apply(state, event, now=at(5))
        outcomes.add(_facts(state))
    assert outcomes == {(70.0, 7, "active")}


def test_unknown_mrr_of_one_live_subscription_makes_the_account_mrr_unknown(
    folder: StateFolder,
) -> None:
    state = AccountState(ACCOUNT)
    folder.apply(state, subscription(at(1), mrr=100.0, subscription_id="a"), now=at(5))
    metered = billing("subscription_started", at(2), subscription_id="b", seats_purchased=3)
    folder.apply(state, metered, now=at(5))
    assert state.fact(state.billing, "mrr") is None


def test_past_due_subscription_is_an_unpaid_invoice_until_it_is_active_again(
    folder: StateFolder,
) -> None:
    state = AccountState(ACCOUNT)
    folder.apply(state, subscription(at(1), subscription_id="a"), now=at(9))
    late = subscription(
        at(2), subscription_id="a", subscription_status="past_due", invoice_id="in_1"
    )
    folder.apply(state, late, now=at(9))
    assert any(max(v) > v[0] for v in state.payments.values())

    cured = subscription(
        at(3), subscription_id="a", subscription_status="active", invoice_id="in_1"
    )
    folder.apply(state, cured, now=at(9))
    assert not any(max(v) > v[0] for v in state.payments.values())


def test_state_with_subscriptions_round_trips(folder: StateFolder) -> None:
    state = AccountState(ACCOUNT)
    folder.apply(state, subscription(at(1), seats=10, mrr=100.0, subscription_id="a"), now=at(5))
    again = AccountState.from_bytes(state.to_bytes(cached=False))
    assert _facts(again) == (100.0, 10, "active")


def _notices() -> list[BillingEvent]:
    """A main plan and an add-on; the add-on is set to cancel, then the main plan too."""
    return [
        subscription(at(1), mrr=100.0, subscription_id="main", eid="n1"),
        subscription(at(2), mrr=20.0, subscription_id="addon", eid="n2"),
        billing("subscription_updated", at(3), subscription_id="addon", cancel_at=at(30), eid="n3"),
        billing("subscription_updated", at(4), subscription_id="main", cancel_at=at(40), eid="n4"),
    ]


def test_the_account_gives_notice_only_when_every_live_subscription_has(
    folder: StateFolder,
) -> None:
    state = AccountState(ACCOUNT)
    events = _notices()
    for event in events[:3]:
        folder.apply(state, event, now=at(5))
    assert account_notice(state, False) == (False, None)  # only the add-on: a contraction
    assert not notice_stands(state)
    folder.apply(state, events[3], now=at(5))
    assert account_notice(state, False) == (True, micros(at(40)))  # leaves when the last one ends
    withdrawn = billing(
        "subscription_updated", at(6), subscription_id="main", cancel_scheduled=False
    )
    folder.apply(state, withdrawn, now=at(7))
    assert not notice_stands(state)


def test_the_notice_does_not_depend_on_arrival_order(folder: StateFolder) -> None:
    outcomes = set()
    for order in itertools.permutations(_notices()):
        state = AccountState(ACCOUNT)
        for event in order:
            folder.apply(state, event, now=at(5))
        outcomes.add(account_notice(state, False))
    assert outcomes == {(True, micros(at(40)))}


def test_once_every_subscription_ended_the_last_one_says_whether_it_was_scheduled(
    folder: StateFolder,
) -> None:
    state = AccountState(ACCOUNT)
    for event in _notices()[:3]:  # the main plan never set to cancel
        folder.apply(state, event, now=at(5))
    folder.apply(
        state, billing("subscription_cancelled", at(30), subscription_id="addon"), now=at(30)
    )
    folder.apply(
        state, billing("subscription_cancelled", at(31), subscription_id="main"), now=at(31)
    )
    assert state.fact(state.billing, "status") == "cancelled"
    assert not notice_stands(state)  # the main plan ended at once: no notice was given


def test_without_subscription_ids_the_accounts_own_notice_stands(folder: StateFolder) -> None:
    state = AccountState(ACCOUNT)
    folder.apply(state, subscription(at(1), mrr=100.0), now=at(2))
    folder.apply(state, billing("subscription_updated", at(2), cancel_at=at(30)), now=at(3))
    assert account_notice(state, False) is None
    assert notice_stands(state)


def test_a_subscription_that_never_said_stands_by_the_account_wide_notice(
    folder: StateFolder,
) -> None:
    # as kept before subscriptions had their own notices: both set to cancel, said
    # account-wide; then one subscription repeats its notice by name
    state = AccountState(ACCOUNT)
    for event in _notices():
        folder.apply(state, event, now=at(5))
    for key in [k for k in state.billing if k.startswith("notice:")]:
        del state.billing[key]
    assert notice_stands(state)
    again = billing("subscription_updated", at(6), subscription_id="addon", cancel_scheduled=True)
    folder.apply(state, again, now=at(7))
    # the add-on's date went with its register: when the last one ends is unknown
    assert account_notice(state, True) == (True, None)
    assert notice_stands(state)


def test_a_notice_repeated_without_its_date_keeps_the_date(folder: StateFolder) -> None:
    state = AccountState(ACCOUNT)
    for event in _notices():
        folder.apply(state, event, now=at(5))
    again = billing("subscription_updated", at(6), subscription_id="main", cancel_scheduled=True)
    folder.apply(state, again, now=at(7))
    assert account_notice(state, False) == (True, micros(at(40)))
