"""The processor: firing, deterministic ids, cooldown, hysteresis, snooze, ticks, revisions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from signals.config import SignalsConfig
from signals.core import SignalProcessor
from signals.ingest import AccountEvent
from signals.rules import load_rules, snooze
from signals.state import AccountState
from tests.signals.factories import ACCOUNT, at, billing, login, nps, profile, subscription, usage
from topics.models import Trigger

SEAT_RULE = """\
rules:
  - id: seat_limit
    version: 1
    kind: expansion
    severity: medium
    description: Active users reached 80% of seats
    play: Expansion proposal
    when: {metric: seat_utilisation, op: ">=", threshold: 0.8, window: 28d}
"""


def run(
    processor: SignalProcessor,
    events: Iterable[AccountEvent],
    state: AccountState | None = None,
) -> tuple[AccountState, list[Trigger]]:
    state = state or AccountState(ACCOUNT)
    triggers: list[Trigger] = []
    for event in events:
        triggers += processor.apply(state, event, now=event.occurred_at).triggers
    return state, triggers


def ticks(processor: SignalProcessor, state: AccountState, days: Iterable[float]) -> list[Trigger]:
    fired: list[Trigger] = []
    for day in days:
        fired += processor.tick(state, at(day)).triggers
    return fired


def test_payment_failed_fires_at_once_with_evidence(processor: SignalProcessor) -> None:
    events = [
        profile(at(0), csm_owner="cara", acv=90_000.0),
        subscription(at(0), mrr=7500.0),
        billing("payment_failed", at(1), eid="pf1", invoice_id="in1", amount=7500.0),
    ]
    _, triggers = run(processor, events)
    (trigger,) = [t for t in triggers if t.rule_id == "payment_failed"]
    assert (trigger.kind, trigger.severity, trigger.csm_owner) == ("churn_risk", "medium", "cara")
    assert trigger.fired_at == at(1)
    assert trigger.evidence[0].metric == "billing.action"
    assert "pf1" in trigger.evidence[0].detail
    assert trigger.recommended_play.startswith("Billing outreach")
    assert trigger.priority == 4.0  # medium (2) x (1 + log10(1 + 90k / 10k))
    assert trigger.health is not None
    assert trigger.explanation.startswith("A payment failed")


def test_replay_gives_the_same_trigger_ids(processor: SignalProcessor) -> None:
    events = [subscription(at(0), eid="s"), billing("payment_failed", at(1), eid="pf")]
    first = [t.trigger_id for t in run(processor, events)[1]]
    again = [
        t.trigger_id for t in run(SignalProcessor(processor.config, processor.rules), events)[1]
    ]
    assert first == again
    assert first
    assert all(len(trigger_id) == 32 for trigger_id in first)


def test_a_duplicate_event_fires_nothing_more(processor: SignalProcessor) -> None:
    event = billing("payment_failed", at(1), eid="pf")
    state, triggers = run(processor, [event, event])
    assert len(triggers) == 1
    outcome = processor.apply(state, event, now=at(1))
    assert [r.kind for r in outcome.rejections] == ["duplicate"]


def test_payment_unresolved_escalates_after_seven_days(processor: SignalProcessor) -> None:
    state, _ = run(processor, [billing("payment_failed", at(1), invoice_id="in1")])
    assert not [t for t in ticks(processor, state, range(2, 8)) if t.rule_id != "health_red"]
    escalated = ticks(processor, state, [8.01])
    assert [t.rule_id for t in escalated] == ["payment_failed_unresolved"]


def _seat_processor(cooldown: str = "7d") -> SignalProcessor:
    text = SEAT_RULE.replace("    when:", f"    cooldown: {cooldown}\n    when:")
    return SignalProcessor(SignalsConfig(), load_rules(text, "seat.yaml"))


def _seats(day: float, seats: int) -> AccountEvent:
    return billing("subscription_updated", at(day), seats_purchased=seats)


def test_hysteresis_fires_once_while_the_condition_holds() -> None:
    processor = _seat_processor()
    events = [subscription(at(0), seats=5)] + [login(at(1), user=f"u{i}") for i in range(6)]
    state, triggers = run(processor, events)
    assert [t.rule_id for t in triggers] == ["seat_limit"]
    assert triggers[0].evidence[0].value == 0.8
    assert ticks(processor, state, range(2, 20)) == []


def test_rearms_after_clearing_but_respects_cooldown() -> None:
    processor = _seat_processor()
    events = [subscription(at(0), seats=5)] + [login(at(1), user=f"u{i}") for i in range(4)]
    events += [_seats(2, 10), _seats(3, 5)]  # clears, then holds again inside the cooldown
    state, triggers = run(processor, events)
    assert len(triggers) == 1
    later = ticks(processor, state, [7.0, 8.5])
    assert [t.fired_at for t in later] == [at(8.5)]
    assert later[0].trigger_id != triggers[0].trigger_id


def test_snooze_silences_until_its_date() -> None:
    processor = _seat_processor()
    state = AccountState(ACCOUNT)
    snooze(state, "seat_limit", until=at(5), reason="renewal call booked")
    events = [subscription(at(0), seats=5)] + [login(at(1), user=f"u{i}") for i in range(4)]
    _, triggers = run(processor, events, state)
    assert triggers == []
    assert [t.fired_at for t in ticks(processor, state, [4, 5, 6])] == [at(5)]


def test_gone_quiet_fires_on_a_tick_after_14_days_without_login(
    processor: SignalProcessor,
) -> None:
    state, _ = run(processor, [login(at(0, 9))])
    assert [t for t in ticks(processor, state, range(1, 14)) if t.rule_id == "gone_quiet"] == []
    quiet = [t for t in ticks(processor, state, [14.5]) if t.rule_id == "gone_quiet"]
    assert len(quiet) == 1
    assert quiet[0].evidence[0].value == 14.625  # from 09:00 on day 0 to 00:00 on day 15


def test_a_late_login_revises_gone_quiet(processor: SignalProcessor) -> None:
    state, _ = run(processor, [login(at(0, 9))])
    (quiet,) = [t for t in ticks(processor, state, [14.5]) if t.rule_id == "gone_quiet"]
    late = login(at(10), user="bob", eid="late-login")
    outcome = processor.apply(state, late, now=at(15))
    (revision,) = [t for t in outcome.triggers if t.revision_of is not None]
    assert revision.revision_of == quiet.trigger_id
    assert revision.trigger_id != quiet.trigger_id
    assert "late-login" in (revision.revision_reason or "")
    again = processor.apply(state, login(at(11), user="cy"), now=at(15))
    assert [t for t in again.triggers if t.revision_of] == []


def test_events_beyond_the_lateness_bound_are_rejected(processor: SignalProcessor) -> None:
    outcome = processor.apply(AccountState(ACCOUNT), login(at(0)), now=at(30))
    assert [r.kind for r in outcome.rejections] == ["late"]


def test_detractor_and_promoter_are_event_rules(processor: SignalProcessor) -> None:
    _, triggers = run(processor, [nps(3, at(1), "a", eid="n1"), nps(10, at(2), "b", eid="n2")])
    assert {t.rule_id for t in triggers} >= {"detractor", "promoter"}


def test_premium_interest(processor: SignalProcessor) -> None:
    events = [usage("Upgrade Wall Hit", at(d)) for d in (1, 2, 3)]
    _, triggers = run(processor, events)
    assert [t.rule_id for t in triggers if t.kind == "expansion"] == ["premium_interest"]
    assert triggers[-1].fired_at == at(3)


def test_reorder_window_releases_in_event_time_order() -> None:
    config = SignalsConfig(reorder_window=timedelta(hours=1))
    processor = SignalProcessor(config, load_rules(SEAT_RULE, "seat.yaml"))
    state = AccountState(ACCOUNT)
    events = [login(at(1, 10), "a"), subscription(at(1, 9.5), seats=1)]
    held = [processor.apply(state, e, now=at(1, 10)) for e in events]
    assert all(o.triggers == () for o in held)
    assert len(state.pending) == 2
    released = processor.tick(state, at(1, 11))
    assert state.pending == []
    assert [t.fired_at for t in released.triggers] == [at(1, 10)]


def test_state_survives_serialisation_mid_stream(processor: SignalProcessor) -> None:
    events: list[AccountEvent] = [subscription(at(0), seats=4)]
    events += [login(at(d % 10, 1 + d), user=f"u{d % 5}") for d in range(20)]
    events.sort(key=lambda e: e.occurred_at)
    _, whole = run(processor, events)
    state, first = run(processor, events[:10])
    restored = AccountState.from_bytes(state.to_bytes())
    _, rest = run(processor, events[10:], restored)
    assert [t.trigger_id for t in first + rest] == [t.trigger_id for t in whole]


def test_a_held_event_released_after_a_long_leap_of_the_clock_is_not_late() -> None:
    """The reorder window accepted it on time; a later release must not call it late."""
    config = SignalsConfig(reorder_window=timedelta(hours=1))
    processor = SignalProcessor(config)
    state = AccountState(ACCOUNT)
    held = processor.apply(state, usage("Signed In", at(0)), at(0))
    assert held.rejections == ()
    released = processor.tick(state, at(30))  # 30 days later, far past the 7-day bound

    assert [r.kind for r in released.rejections] == []
    assert state.last_login_us > 0
