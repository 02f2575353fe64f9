"""The processor: firing, deterministic ids, cooldown, hysteresis, snooze, ticks, revisions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from signals.config import LifecycleConfig, SignalsConfig
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


def test_payment_failed_fires_after_a_week_with_real_values(
    processor: SignalProcessor,
) -> None:
    events = [
        profile(at(0), csm_owner="cara", acv=90_000.0),
        subscription(at(0), mrr=7500.0),
        billing("payment_failed", at(1), eid="pf1", invoice_id="in1", amount=7500.0),
    ]
    state, triggers = run(processor, events)
    assert triggers == []  # a first failure is ordinary dunning: the retry may succeed
    assert ticks(processor, state, [2, 4, 7.99]) == []
    (trigger,) = ticks(processor, state, [8])
    assert trigger.rule_id == "payment_failed"
    assert (trigger.kind, trigger.severity, trigger.csm_owner) == ("churn_risk", "medium", "cara")
    assert trigger.fired_at == at(8)
    values = {e.metric: e.value for e in trigger.evidence}
    assert values == {"failed_payments_unresolved": 1, "days_past_due": 7, "mrr": 7500.0}
    assert trigger.recommended_play.startswith("Billing outreach")
    assert trigger.priority == 4.0  # medium (2) x (1 + log10(1 + 90k / 10k))
    assert trigger.health is not None
    assert trigger.explanation.startswith("A failed payment is still unresolved after a week")


def test_replay_gives_the_same_trigger_ids(processor: SignalProcessor) -> None:
    events = [subscription(at(0), eid="s"), billing("payment_failed", at(1), eid="pf")]

    def fired(processor: SignalProcessor) -> list[str]:
        state, triggers = run(processor, events)
        return [t.trigger_id for t in triggers + ticks(processor, state, range(2, 20))]

    first = fired(processor)
    assert first == fired(SignalProcessor(processor.config, processor.rules))
    assert len(first) == 2  # after 3 days, then escalated at 14
    assert all(len(trigger_id) == 32 for trigger_id in first)


def test_a_duplicate_event_fires_nothing_more(processor: SignalProcessor) -> None:
    event = nps(10, at(1), eid="n")
    state, triggers = run(processor, [subscription(at(0)), event, event])
    assert [t.rule_id for t in triggers] == ["promoter"]
    outcome = processor.apply(state, event, now=at(1))
    assert [r.kind for r in outcome.rejections] == ["duplicate"]


def _seat_processor(cooldown: str = "7d") -> SignalProcessor:
    """The rule's own gate alone: no expansion conversation to join (test_offer_and_ask)."""
    text = SEAT_RULE.replace("    when:", f"    cooldown: {cooldown}\n    when:")
    config = SignalsConfig(lifecycle=LifecycleConfig(expansion_episode=timedelta(0)))
    return SignalProcessor(config, load_rules(text, "seat.yaml"))


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


def _daily_user(days: int) -> list[AccountEvent]:
    return [login(at(day, 9), user="ann") for day in range(days)]


def test_gone_quiet_fires_on_a_tick_after_14_days_without_activity(
    processor: SignalProcessor,
) -> None:
    state, _ = run(processor, _daily_user(30))  # last active on day 29
    assert [t for t in ticks(processor, state, range(30, 43)) if t.rule_id == "gone_quiet"] == []
    (quiet,) = [t for t in ticks(processor, state, [43]) if t.rule_id == "gone_quiet"]
    values = {e.metric: e.value for e in quiet.evidence}
    assert values["days_since_last_activity"] == 14  # whole days: day 29 to day 43
    assert values["active_user_days_baseline_14d"] == 14  # days 2..29, per 14 days


def test_a_late_login_revises_gone_quiet(processor: SignalProcessor) -> None:
    state, _ = run(processor, _daily_user(30))
    (quiet,) = [t for t in ticks(processor, state, [43]) if t.rule_id == "gone_quiet"]
    late = login(at(38), user="bob", eid="late-login")
    outcome = processor.apply(state, late, now=at(44))
    (revision,) = [t for t in outcome.triggers if t.revision_of is not None]
    assert revision.revision_of == quiet.trigger_id
    assert revision.trigger_id != quiet.trigger_id
    assert "late-login" in (revision.revision_reason or "")
    again = processor.apply(state, login(at(39), user="cy"), now=at(44))
    assert [t for t in again.triggers if t.revision_of] == []


def test_events_beyond_the_lateness_bound_are_rejected(processor: SignalProcessor) -> None:
    outcome = processor.apply(AccountState(ACCOUNT), login(at(0)), now=at(30))
    assert [r.kind for r in outcome.rejections] == ["late"]


def _slipping_team() -> list[AccountEvent]:
    """Eight daily users for 42 days, then five: use 25% and more below its baseline."""
    return [
        login(at(day, 9), user=f"u{user}")
        for day in range(53)
        for user in range(8 if day < 42 else 5)
    ]


def test_detractor_and_promoter_are_event_rules(processor: SignalProcessor) -> None:
    state, triggers = run(processor, _slipping_team())
    assert triggers == []
    detractor = processor.apply(state, nps(3, at(52, 15), "a", eid="n1"), now=at(52, 15))
    assert [(t.rule_id, t.fired_at) for t in detractor.triggers] == [("detractor", at(52, 15))]
    assert "event n1" in detractor.triggers[0].evidence[0].detail
    _, promoted = run(processor, [subscription(at(0)), nps(10, at(2), "b", eid="n2")])
    assert [(t.rule_id, t.fired_at) for t in promoted] == [("promoter", at(2))]


def test_a_detractor_from_an_account_whose_use_holds_is_no_alert(
    processor: SignalProcessor,
) -> None:
    steady = [login(at(day, 9), user=f"u{user}") for day in range(53) for user in range(8)]
    state, _ = run(processor, steady)
    assert processor.apply(state, nps(3, at(52, 15), "a"), now=at(52, 15)).triggers == ()


def test_premium_interest_needs_two_weeks(processor: SignalProcessor) -> None:
    events: list[AccountEvent] = [login(at(0))]
    events += [usage("Upgrade Wall Hit", at(d)) for d in (1, 2, 3, 8, 9, 10)]
    _, triggers = run(processor, events)
    assert [(t.rule_id, t.fired_at) for t in triggers] == [("premium_interest", at(10))]
    values = {e.metric: e.value for e in triggers[0].evidence}
    assert values == {"premium_attempts_7d": 3}


def test_reorder_window_releases_in_event_time_order() -> None:
    config = SignalsConfig(reorder_window=timedelta(hours=1))
    processor = SignalProcessor(config, load_rules(SEAT_RULE, "seat.yaml"))
    state = AccountState(ACCOUNT)
    processor.apply(state, profile(at(0), csm_owner="cara"), now=at(0))  # a day of history
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


def test_when_an_event_is_applied_within_the_lateness_bound_changes_no_score() -> None:
    """Issue 17's soak: 2 of 206 account states differed from the replay in their health
    history. A day's events applied a few hours after midnight (a partition's clock
    released them late; the replay's ran ahead) pruned the account's data by the
    reader's day, not the account's: the training 119 days before fell out of the
    window one day early and the day's scores lost their engagement component."""
    from signals.rules import default_rules

    events: list[AccountEvent] = [
        subscription(at(0, 1)),
        profile(at(0, 2), executive_sponsor=True),
        usage("Training Completed", at(0)),
    ]
    for day in range(1, 125):
        events += [login(at(day), user=f"u{day % 3}"), usage("Report Run", at(day, 14))]

    def history(delay: timedelta) -> dict[int, float]:
        processor, state = SignalProcessor(SignalsConfig(), default_rules()), AccountState(ACCOUNT)
        for event in events:
            processor.apply(state, event, event.occurred_at + delay)
        return state.health_history

    at_once = history(timedelta(microseconds=1))
    assert len(at_once) > 50, "health was scored day by day: there is something to compare"
    assert history(timedelta(hours=20)) == at_once
    assert history(timedelta(days=6)) == at_once
