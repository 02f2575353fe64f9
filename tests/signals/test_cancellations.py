"""A cancellation is an outcome, published once, with the churn-risk alerts that came before."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from signals.cancellations import cancellation_id
from signals.config import LifecycleConfig, SignalsConfig, UsageMapping
from signals.core import SignalProcessor
from signals.ingest import AccountEvent
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


def test_an_account_that_comes_back_and_leaves_again_has_a_second_record() -> None:
    _, first, state = drive(_quiet_then_leaving(), until=at(90))
    events = [
        subscription(at(100), seats=10, mrr=500.0),
        billing("subscription_cancelled", at(260)),
    ]
    events += [login(at(day, 9), user=f"u{u}") for day in range(100, 250) for u in range(3)]
    back, second, _ = drive(events, until=at(261), state=state)
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
    raw = state.to_bytes().replace(f',"x":{state.cancelled_us}'.encode(), b"")
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
