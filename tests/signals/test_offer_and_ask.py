"""One conversation per account and kind beyond churn risk: one upgrade conversation
(``lifecycle.expansion_episode``) and one advocacy ask (``lifecycle.advocacy_ask``). A
reason within the span of the last one sent joins it, kept in the account's history and
never sent, unless its severity is higher."""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson

from signals.config import LifecycleConfig, SignalsConfig, UsageMapping
from signals.core import SignalProcessor
from signals.ingest import AccountEvent
from signals.rules import load_rules
from signals.state import AccountState, micros
from tests.signals.conftest import CORE
from tests.signals.factories import ACCOUNT, at, billing, nps, profile, subscription, ticket, usage

CONFIG = SignalsConfig(usage=UsageMapping(core_features=CORE))

# Two advocacy rules on the same answer: the ask is per account, not per rule.
TWO_ASKS = load_rules(
    """
extends: defaults
rules:
  - id: superfan
    version: 1
    kind: advocacy
    severity: low
    description: A 10 from anyone at the account
    play: Invite to the customer advisory board
    hysteresis: false
    cooldown: 0d
    when: {event: {type: nps, field: score, op: ">=", threshold: 10}}
""",
    "two_asks.yaml",
)


def _green() -> list[AccountEvent]:
    """An account with a sponsor, seats and a resolved ticket: not at risk."""
    return [
        profile(at(0), executive_sponsor=True),
        subscription(at(0, 2), seats=10),
        ticket("opened", at(1, 9), "t0"),
        ticket("solved", at(1, 10), "t0", csat=5),
    ]


def _answers(
    processor: SignalProcessor, days: list[float]
) -> tuple[list[tuple[str, datetime]], AccountState]:
    """Promoter answers (10 of 10, a new respondent each time) on ``days``; the advocacy
    triggers sent, and the account's state after."""
    state = AccountState(ACCOUNT)
    for event in _green():
        processor.apply(state, event, now=event.occurred_at)
    sent: list[tuple[str, datetime]] = []
    for n, day in enumerate(days):
        when = at(day, 1)
        processor.tick(state, when)
        outcome = processor.apply(state, nps(10, when, f"fan{n}"), now=when)
        sent += [(t.rule_id, t.fired_at) for t in outcome.triggers if t.kind == "advocacy"]
    return sent, state


def test_a_promoter_asked_once_is_not_asked_again_within_90_days() -> None:
    sent, state = _answers(SignalProcessor(CONFIG), [10, 45, 99, 130])
    # day 45 is past promoter's own 30-day cooldown, yet within the ask of day 10; a
    # joined ask moves the rule's cooldown as a sent one does (day 99), and day 130 is
    # past both
    assert sent == [("promoter", at(10, 1)), ("promoter", at(130, 1))]
    joined = [entry for entry in state.fired if entry[1] == "promoter" and entry[5:] == ["joined"]]
    assert [entry[3] for entry in joined] == [micros(at(45, 1)), micros(at(99, 1))]
    assert state.ask_us == micros(at(130, 1))


def test_the_ask_is_per_account_across_advocacy_rules() -> None:
    sent, _ = _answers(SignalProcessor(CONFIG, TWO_ASKS), [10, 20])
    # both rules hold on day 10: the first in the rule set is sent, the other joins it
    assert sent == [("promoter", at(10, 1))]


def test_with_the_ask_off_every_rule_asks_on_its_own_cooldown() -> None:
    off = CONFIG.model_copy(update={"lifecycle": LifecycleConfig(advocacy_ask=timedelta(0))})
    sent, state = _answers(SignalProcessor(off, TWO_ASKS), [10, 20, 45])
    assert sent == [
        ("promoter", at(10, 1)),
        ("superfan", at(10, 1)),
        ("superfan", at(20, 1)),
        ("promoter", at(45, 1)),
        ("superfan", at(45, 1)),
    ]
    assert all(entry[5:] == [] for entry in state.fired)


def test_the_open_ask_survives_a_restart_and_older_state_has_none() -> None:
    processor = SignalProcessor(CONFIG)
    _, state = _answers(processor, [10])
    restored = AccountState.from_bytes(state.to_bytes())
    assert restored.ask_us == state.ask_us == micros(at(10, 1))
    when = at(40, 1)
    outcome = processor.apply(restored, nps(9, when, "another"), now=when)
    assert [t.rule_id for t in outcome.triggers if t.kind == "advocacy"] == []
    older = orjson.loads(state.to_bytes())
    older["l"] = older["l"][:6]  # as written before the ask was kept
    read = AccountState.from_bytes(orjson.dumps(older))
    assert (read.offer_us, read.offer_rank, read.ask_us, read.ask_rank) == (-1, -1, -1, -1)


# -- one upgrade conversation ----------------------------------------------------------


def _limits(processor: SignalProcessor) -> tuple[list[tuple[str, datetime]], AccountState]:
    """At the tier limit on day 2, the API limit on day 9, premium features pressed on
    days 10 to 24: the expansion triggers sent."""
    state = AccountState(ACCOUNT)
    start = subscription(at(0), api_calls_per_day_limit=1000, data_volume_limit_gb=100)
    events = [start, usage("Data Volume Reported", at(2), gb=95)]
    events.append(usage("API Calls", at(9), count=900))
    events += [usage("Premium Feature Attempted", at(10 + d), eid=f"p{d}") for d in range(15)]
    sent: list[tuple[str, datetime]] = []
    for event in events:
        outcome = processor.apply(state, event, now=event.occurred_at)
        sent += [(t.rule_id, t.fired_at) for t in outcome.triggers if t.kind == "expansion"]
    return sent, state


def test_expansion_reasons_within_30_days_are_one_conversation() -> None:
    sent, state = _limits(SignalProcessor(CONFIG))
    assert sent == [("usage_tier", at(2))]
    joined = [entry[1] for entry in state.fired if entry[5:] == ["joined"]]
    assert joined == ["api_limit", "premium_interest"]
    assert (state.offer_us, state.offer_rank) == (micros(at(2)), 1)  # medium


def test_with_the_expansion_episode_off_every_reason_is_sent() -> None:
    off = CONFIG.model_copy(update={"lifecycle": LifecycleConfig(expansion_episode=timedelta(0))})
    sent, _ = _limits(SignalProcessor(off))
    assert [rule for rule, _ in sent] == ["usage_tier", "api_limit", "premium_interest"]


def test_a_withdrawn_opener_closes_its_conversation_and_rearms_what_joined_it() -> None:
    processor = SignalProcessor(CONFIG)
    state = AccountState(ACCOUNT)
    start = subscription(at(0), api_calls_per_day_limit=1000, data_volume_limit_gb=100)
    for event in [start, usage("Data Volume Reported", at(2), gb=95)]:
        processor.apply(state, event, now=event.occurred_at)
    calls = usage("API Calls", at(5), count=900, eid="calls-5")
    assert processor.apply(state, calls, now=at(5)).triggers == ()  # joins usage_tier's
    # The tier was 200 GB all along: late data withdraws usage_tier (95 of 200).
    late = billing("subscription_updated", at(1, 18), data_volume_limit_gb=200)
    outcome = processor.apply(state, late, now=at(5, 13))
    assert [t.rule_id for t in outcome.triggers if t.revision_of] == ["usage_tier"]
    assert (state.offer_us, state.offer_rank) == (-1, -1)  # nothing sent stands
    # api_limit never reached anyone: it is armed, and its next evaluation sends it
    more = usage("API Calls", at(6), count=850, eid="calls-6")
    sent = [t.rule_id for t in processor.apply(state, more, now=at(6)).triggers]
    assert sent == ["api_limit"]
    assert state.offer_us == micros(at(6))
