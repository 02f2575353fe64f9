"""A cancellation is an outcome, published once, with the churn-risk alerts that came before."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta

import pytest

from signals.cancellations import cancellation_id
from signals.config import LifecycleConfig, SignalsConfig, UsageMapping
from signals.core import SignalProcessor
from signals.ingest import AccountEvent
from signals.metrics.lifecycle import notice_stands
from signals.replay import replay
from signals.state import AccountState, micros
from tests.signals.conftest import CORE
from tests.signals.factories import ACCOUNT, at, billing, login, profile, subscription
from topics.codec import encode
from topics.models import Cancellation, Trigger

CONFIG = SignalsConfig(usage=UsageMapping(core_features=CORE))
PROCESSOR = SignalProcessor(CONFIG)


def drive(
    events: Iterable[AccountEvent],
    until: datetime,
    *,
    processor: SignalProcessor = PROCESSOR,
    state: AccountState | None = None,
) -> tuple[list[Trigger], list[Cancellation], AccountState]:
    """Events in time order, each applied at its own time, ticks every 6 hours."""
    state = state or AccountState(ACCOUNT)
    ordered = sorted(events, key=lambda e: (e.occurred_at, e.event_id))
    triggers: list[Trigger] = []
    ended: list[Cancellation] = []
    clock = (ordered[0].occurred_at if ordered else until).replace(hour=0, minute=0)
    pending = iter(ordered)
    event = next(pending, None)
    while clock <= until:
        while event is not None and event.occurred_at <= clock:
            outcome = processor.apply(state, event, now=event.occurred_at)
            triggers += outcome.triggers
            ended += outcome.cancellations
            event = next(pending, None)
        outcome = processor.tick(state, clock)
        triggers += outcome.triggers
        ended += outcome.cancellations
        clock += timedelta(hours=6)
    return triggers, ended, state


def _quiet_then_leaving() -> list[AccountEvent]:
    """A regular team goes silent after day 29 (gone_quiet pages on day 43), schedules
    its cancellation on day 50 (cancellation_scheduled pages, critical) and leaves on
    day 80, the period's end."""
    events: list[AccountEvent] = [
        subscription(at(0, 1), seats=10, mrr=900.0, plan="Growth"),
        profile(at(0, 2), csm_owner="ann"),
    ]
    events += [login(at(day, 9), user=f"u{u}") for day in range(30) for u in range(3)]
    events += [
        billing("subscription_updated", at(50, 10), cancel_at=at(80, 0)),
        billing("subscription_cancelled", at(80, 0)),
    ]
    return events


def test_one_record_when_the_subscription_ends_with_the_alerts_before_it() -> None:
    triggers, ended, _ = drive(_quiet_then_leaving(), until=at(90))
    assert len(ended) == 1
    record = ended[0]
    assert record.cancellation_id == cancellation_id(ACCOUNT, micros(at(80, 0)))
    assert (record.cancelled_at, record.scheduled, record.trial) == (at(80, 0), True, False)
    assert (record.mrr, record.plan, record.csm_owner) == (900.0, "Growth", "ann")
    paged = [t for t in triggers if t.kind == "churn_risk"]
    assert [t.rule_id for t in paged] == ["gone_quiet", "cancellation_scheduled"]
    assert [(a.trigger_id, a.rule_id, a.fired_at) for a in record.prior_alerts] == [
        (t.trigger_id, t.rule_id, t.fired_at) for t in paged
    ]
    assert record.horizon_days == 120


def test_a_repeated_or_late_cancellation_event_makes_no_second_record() -> None:
    _, ended, state = drive(_quiet_then_leaving(), until=at(90))
    again = PROCESSOR.apply(state, billing("subscription_cancelled", at(91)), now=at(91))
    earlier = PROCESSOR.apply(state, billing("subscription_cancelled", at(89)), now=at(91))
    assert len(ended) == 1
    assert again.cancellations == earlier.cancellations == ()


def _back_then_leaving(
    end_day: int,
) -> tuple[list[Cancellation], list[Trigger], list[Cancellation]]:
    """``_quiet_then_leaving``, then back on day 100 with a busy team until it leaves
    again on ``end_day``: the first records, then the second term's triggers and records."""
    _, first, state = drive(_quiet_then_leaving(), until=at(90))
    events = [
        subscription(at(100), seats=10, mrr=500.0),
        billing("subscription_cancelled", at(end_day)),
    ]
    events += [login(at(day, 9), user=f"u{u}") for day in range(100, end_day - 1) for u in range(3)]
    back, second, _ = drive(events, until=at(end_day + 1), state=state)
    return first, back, second


def test_an_account_that_comes_back_and_leaves_again_has_a_second_record() -> None:
    first, back, second = _back_then_leaving(260)
    # the first term's notice is not the new one's: no cancellation_scheduled on return
    assert "cancellation_scheduled" not in {t.rule_id for t in back}
    assert len(second) == 1
    assert second[0].cancellation_id != first[0].cancellation_id
    assert (second[0].cancelled_at, second[0].scheduled, second[0].mrr) == (at(260), False, 500.0)
    # day 43's and day 50's alerts are more than 120 days before day 260
    assert second[0].prior_alerts == []


def test_a_trial_lapse_says_so() -> None:
    events = [
        subscription(at(0, 1), seats=5, mrr=0.0, plan="Trial"),
        billing("subscription_cancelled", at(14)),
    ]
    _, ended, _ = drive(events, until=at(15))
    assert [(r.trial, r.mrr, r.scheduled) for r in ended] == [(True, 0.0, False)]


def _stripe(
    action: str,
    day: int,
    status: str,
    sub: str = "sub1",
    trial_end: int | None = 14,
    **more: object,
) -> AccountEvent:
    """Stripe's trial: a priced subscription, "trialing" until trial_end; no "Trial" plan,
    no lifecycle stage, no Trial Started event."""
    fields: dict[str, object] = {"plan": "Team", "seats_purchased": 5, "mrr": 60.0} | more
    if trial_end is not None:
        fields["trial_end"] = at(trial_end)
    return billing(action, at(day), subscription_id=sub, subscription_status=status, **fields)


STRIPE_TRIALS = {
    # A CRM stage set on the day (a producer's mistake an independent check made) does
    # not turn the lapse into paid churn.
    "ended unpaid at trial_end": (
        [
            _stripe("subscription_started", 0, "trialing"),
            profile(at(14), lifecycle_stage="adopted"),
            _stripe("subscription_cancelled", 14, "canceled"),
        ],
        True,
    ),
    "paid at trial_end, cancelled later": (
        [
            _stripe("subscription_started", 0, "trialing"),
            _stripe("subscription_updated", 14, "active"),
            _stripe("subscription_cancelled", 50, "canceled"),
        ],
        False,
    ),
    # Stripe's default: an invoice at trial_end, unpaid, past_due, deleted after dunning
    "never paid through dunning": (
        [
            _stripe("subscription_started", 0, "trialing"),
            _stripe("subscription_updated", 14, "past_due"),
            _stripe("subscription_cancelled", 35, "canceled"),
        ],
        True,
    ),
    "a paid subscription beside an add-on's trial": (
        [
            _stripe("subscription_started", 0, "active", sub="main", trial_end=None, mrr=600.0),
            _stripe("subscription_started", 20, "trialing", sub="addon", trial_end=50),
            _stripe("subscription_cancelled", 30, "canceled", sub="addon", trial_end=50),
            _stripe("subscription_cancelled", 30, "canceled", sub="main", trial_end=None),
        ],
        False,
    ),
    "paid, whatever a stale trial stage says": (
        [
            profile(at(0), lifecycle_stage="trial"),  # the CRM never moves it on
            _stripe("subscription_started", 0, "trialing"),
            _stripe("subscription_updated", 14, "active"),
            _stripe("subscription_cancelled", 200, "canceled"),
        ],
        False,
    ),
}


@pytest.mark.parametrize(("events", "trial"), STRIPE_TRIALS.values(), ids=STRIPE_TRIALS.keys())
def test_a_stripe_trial_is_a_lapse_only_if_never_paid(
    events: list[AccountEvent], trial: bool
) -> None:
    last = max(event.occurred_at for event in events)
    _, ended, _ = drive(events, until=last + timedelta(days=1))
    assert [r.trial for r in ended] == [trial]


def test_alerts_that_joined_a_conversation_paged_nobody_and_are_not_listed() -> None:
    # payment_failed joins gone_quiet's open conversation (medium under high)
    events = _quiet_then_leaving()
    events.append(billing("payment_failed", at(44), invoice_id="in1"))
    _, ended, state = drive(events, until=at(90))
    joined = [entry[1] for entry in state.fired if entry[5:] == ["joined"]]
    assert "payment_failed" in joined
    assert "payment_failed" not in {a.rule_id for a in ended[0].prior_alerts}


def test_the_horizon_is_the_configured_one() -> None:
    short = CONFIG.model_copy(
        update={"lifecycle": LifecycleConfig(alert_horizon=timedelta(days=32))}
    )
    processor = SignalProcessor(short)
    state = AccountState(ACCOUNT)
    _, ended, _ = drive(_quiet_then_leaving(), until=at(90), processor=processor, state=state)
    # gone_quiet paged on day 43, 37 days before the end: outside a 32-day horizon
    assert [a.rule_id for a in ended[0].prior_alerts] == ["cancellation_scheduled"]
    assert ended[0].horizon_days == 32


def test_the_state_remembers_the_record_across_a_restart() -> None:
    _, _, state = drive(_quiet_then_leaving(), until=at(90))
    restored = AccountState.from_bytes(state.to_bytes())
    assert restored.cancelled_us == micros(at(80, 0)) == state.cancelled_us
    again = PROCESSOR.apply(restored, billing("subscription_cancelled", at(91)), now=at(91))
    assert again.cancellations == ()


def test_a_state_saved_before_records_existed_publishes_no_record_for_its_past() -> None:
    _, _, state = drive(_quiet_then_leaving(), until=at(90))
    raw = re.sub(rb',"x":\[[^\]]*\]', b"", state.to_bytes())
    assert b'"x"' not in raw
    restored = AccountState.from_bytes(raw)
    assert restored.cancelled_us == micros(at(80, 0))
    late = PROCESSOR.apply(restored, billing("subscription_cancelled", at(91)), now=at(91))
    assert late.cancellations == ()


def test_a_replay_publishes_the_same_records_as_the_core_applied_by_hand() -> None:
    events = _quiet_then_leaving()
    _, by_hand, _ = drive(events, until=at(90))
    topics = {"track": "usage", "billing": "billing", "account": "accounts"}
    result = replay([(topics[e.type], e) for e in events], CONFIG, PROCESSOR.rules, until=at(90))
    assert [encode(r) for r in result.cancellations] == [encode(r) for r in by_hand]
    assert result.summary.cancellations == 1


def test_a_second_cancellation_lists_only_the_alerts_since_the_account_came_back() -> None:
    first, _, second = _back_then_leaving(150)
    # day 43's and 50's alerts are within 120 days of day 150, but of the first term
    assert [a.rule_id for a in first[0].prior_alerts] == ["gone_quiet", "cancellation_scheduled"]
    assert [r.prior_alerts for r in second] == [[]]


def test_an_alert_late_data_withdrew_still_paged_and_is_listed_as_revised() -> None:
    events = _quiet_then_leaving()
    late = login(at(42, 23), user="u1")  # sent on day 44: gone_quiet (day 43) no longer holds
    triggers, ended, state = drive([e for e in events if e.occurred_at < at(44)], until=at(44))
    revision = PROCESSOR.apply(state, late, now=at(44, 1)).triggers
    assert [t.revision_of for t in revision] == [triggers[0].trigger_id]
    rest = [e for e in events if e.occurred_at >= at(44)]
    _, ended, _ = drive(rest, until=at(90), state=state)
    listed = {a.rule_id: a.revised for a in ended[0].prior_alerts}
    assert listed == {"gone_quiet": True, "cancellation_scheduled": False}


def test_the_order_billing_data_arrives_in_does_not_change_what_the_account_knows() -> None:
    start, notice = (
        subscription(at(0), mrr=900.0),
        billing("subscription_updated", at(10), cancel_at=at(20)),
    )
    cancel, restart = billing("subscription_cancelled", at(20)), subscription(at(25), mrr=900.0)
    in_order, late_cancel = AccountState(ACCOUNT), AccountState(ACCOUNT)
    for state, events in (
        (in_order, [start, notice, cancel, restart]),
        (late_cancel, [start, notice, restart, cancel]),
    ):
        for event in events:
            PROCESSOR.apply(state, event, now=at(26))
    assert in_order.billing == late_cancel.billing
    assert not notice_stands(in_order)  # the notice was the first term's


def test_a_paused_paid_subscription_that_ends_is_paid_churn_and_a_canceled_status_ends_it() -> None:
    events = [
        subscription(at(0), mrr=900.0, plan="Growth", subscription_id="sub_1"),
        billing(
            "subscription_updated", at(10), subscription_id="sub_1", subscription_status="paused"
        ),
        billing(
            "subscription_updated", at(20), subscription_id="sub_1", subscription_status="canceled"
        ),
    ]
    _, ended, _ = drive(events, until=at(21))
    assert [(r.cancelled_at, r.trial, r.plan) for r in ended] == [(at(20), False, "Growth")]


def test_a_stray_update_after_the_end_brings_no_one_back_and_makes_no_second_record() -> None:
    for sub in ({}, {"subscription_id": "sub_1"}):
        events = [
            subscription(at(0), mrr=900.0, **sub),
            billing("subscription_cancelled", at(20), **sub),
            billing("subscription_updated", at(22), seats_purchased=12, **sub),  # no revenue
            billing("subscription_cancelled", at(24), **sub),
        ]
        _, ended, state = drive(events, until=at(25))
        assert [r.cancelled_at for r in ended] == [at(20)], sub
        assert state.fact(state.billing, "status") == "cancelled"
        # revenue in an update does bring the account back, as pulse evaluate reads it
        back = billing("subscription_updated", at(30), mrr=500.0, **sub)
        PROCESSOR.apply(state, back, now=at(30))
        assert state.fact(state.billing, "status") == "active", sub
