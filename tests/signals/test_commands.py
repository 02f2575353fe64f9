"""Commands in the core: snoozes hold a rule back and count what they held, overrides move
the score until they lapse, feedback lands on a known trigger; all idempotent, journalled."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError

from signals.config import SignalsConfig, UsageMapping
from signals.core import Outcome, SignalProcessor
from signals.state import AccountState
from tests.signals.factories import ACCOUNT, at, billing, login, subscription
from topics.models import OverrideSet, RuleSnoozed, SnoozeLifted, TriggerFeedback

CONFIG = SignalsConfig(usage=UsageMapping(core_features=("Report Exported",)))


def _base(**fields: Any) -> dict[str, Any]:
    return {"account_id": ACCOUNT, "author": "csm@example.com"} | fields


def snooze(cid: str, given: datetime, until: datetime, rule: str = "payment_failed") -> RuleSnoozed:
    return RuleSnoozed(
        **_base(command_id=cid, occurred_at=given, rule_id=rule, until=until, reason="in talks")
    )


@pytest.fixture
def processor() -> SignalProcessor:
    return SignalProcessor(CONFIG)


def _unpaid_account(processor: SignalProcessor) -> AccountState:
    """An account whose payment failed on day -1: payment_failed holds from day 6."""
    state = AccountState(ACCOUNT)
    for event in (
        subscription(at(-5), seats=5),
        login(at(-4)),
        billing("payment_failed", at(-1), invoice_id="in1"),
    ):
        processor.apply(state, event, now=event.occurred_at)
    return state


def _fired(outcome: Outcome) -> list[str]:
    return [t.rule_id for t in outcome.triggers]


def test_a_snoozed_rule_is_held_back_counted_once_and_fires_after_its_date(
    processor: SignalProcessor,
) -> None:
    state = _unpaid_account(processor)
    given = processor.apply(state, snooze("c1", at(4), at(20)), now=at(4))
    assert [(n.kind, n.rule_id) for n in given.notes] == [("rule_snoozed", "payment_failed")]
    first = processor.tick(state, at(7))
    assert "payment_failed" not in _fired(first)
    assert [(n.kind, n.rule_id) for n in first.notes] == [("suppressed", "payment_failed")]
    assert processor.tick(state, at(8)).notes == ()  # the same would-be trigger: counted once
    after = processor.tick(state, at(21))
    assert "payment_failed" in _fired(after)
    assert ("snooze_lapsed", "payment_failed") in [(n.kind, n.rule_id) for n in after.notes]
    assert [entry[1] for entry in state.journal] == ["rule_snoozed", "suppressed", "snooze_lapsed"]


def test_without_the_snooze_the_rule_fires_when_it_holds(processor: SignalProcessor) -> None:
    state = _unpaid_account(processor)
    assert "payment_failed" in _fired(processor.tick(state, at(7)))


def test_a_lifted_snooze_lets_the_rule_fire_at_once(processor: SignalProcessor) -> None:
    state = _unpaid_account(processor)
    processor.apply(state, snooze("c1", at(4), at(30)), now=at(4))
    processor.tick(state, at(7))
    lift = SnoozeLifted(**_base(command_id="c2", occurred_at=at(8), rule_id="payment_failed"))
    processor.apply(state, lift, now=at(8))
    assert "payment_failed" in _fired(processor.tick(state, at(9)))


def test_a_command_is_applied_once_by_its_id(processor: SignalProcessor) -> None:
    state = _unpaid_account(processor)
    processor.apply(state, snooze("c1", at(4), at(20)), now=at(4))
    again = processor.apply(state, snooze("c1", at(4), at(20)), now=at(5))
    assert [r.kind for r in again.rejections] == ["duplicate"]
    assert again.notes == ()
    assert [entry[1] for entry in state.journal] == ["rule_snoozed"]


def test_an_unknown_rule_is_refused_with_its_reason_and_the_id_stays_usable(
    processor: SignalProcessor,
) -> None:
    state = _unpaid_account(processor)
    refused = processor.apply(state, snooze("c1", at(4), at(20), rule="no_such_rule"), now=at(4))
    assert [(r.kind, r.event_id) for r in refused.rejections] == [("invalid_command", "c1")]
    assert "no_such_rule" in refused.rejections[0].message
    assert state.snoozes == {}
    assert state.journal == []
    fixed = processor.apply(state, snooze("c1", at(4), at(20)), now=at(4))
    assert fixed.rejections == ()


def test_an_override_sets_the_score_until_it_lapses(processor: SignalProcessor) -> None:
    state = _unpaid_account(processor)
    computed = processor.tick(state, at(5)).health
    assert computed is not None
    assert computed.score != 12
    override = OverrideSet(
        **_base(
            command_id="o1",
            occurred_at=at(5, 13),
            score=12,
            reason="exec sponsor left",
            expires_at=at(9),
        )
    )
    processor.apply(state, override, now=at(5, 13))
    held = processor.tick(state, at(6)).health
    assert held is not None
    assert held.score == 12
    lapsed = processor.tick(state, at(10))
    assert lapsed.health is not None
    assert lapsed.health.score != 12
    assert [n.kind for n in lapsed.notes] == ["override_lapsed"]
    assert state.overrides == []
    assert [entry[1] for entry in state.journal] == ["override_set", "override_lapsed"]


def test_an_override_of_an_unknown_component_is_refused(processor: SignalProcessor) -> None:
    state = _unpaid_account(processor)
    override = OverrideSet(
        **_base(
            command_id="o1",
            occurred_at=at(5),
            component="vibes",
            score=0.5,
            reason="r",
            expires_at=at(9),
        )
    )
    refused = processor.apply(state, override, now=at(5))
    assert [r.kind for r in refused.rejections] == ["invalid_command"]
    assert "vibes" in refused.rejections[0].message
    assert state.overrides == []


def test_feedback_lands_on_a_known_trigger_and_names_its_rule(processor: SignalProcessor) -> None:
    state = _unpaid_account(processor)
    trigger = processor.tick(state, at(7)).triggers[0]

    def feedback(cid: str, trigger_id: str) -> TriggerFeedback:
        return TriggerFeedback(
            **_base(command_id=cid, occurred_at=at(8), trigger_id=trigger_id, verdict="false_alarm")
        )

    known = processor.apply(state, feedback("f1", trigger.trigger_id), now=at(8))
    assert [(n.kind, n.rule_id, n.verdict) for n in known.notes] == [
        ("trigger_feedback", trigger.rule_id, "false_alarm")
    ]
    assert state.feedback[trigger.trigger_id][:2] == ["false_alarm", "csm@example.com"]
    # One the account does not remember (long gone from its log): kept, under "unknown".
    forgotten = processor.apply(state, feedback("f2", "0" * 32), now=at(8))
    assert forgotten.rejections == ()
    assert [(n.rule_id, n.verdict) for n in forgotten.notes] == [("unknown", "false_alarm")]
    assert "does not remember" in state.journal[-1][3]
    assert set(state.feedback) == {trigger.trigger_id}


def test_feedback_needs_a_trigger_id_as_published() -> None:
    with pytest.raises(ValidationError, match="trigger_id"):
        TriggerFeedback(
            **_base(command_id="f", occurred_at=at(8), trigger_id="T-1", verdict="resolved")
        )


def test_a_command_is_not_data_and_needs_an_account_pulse_has_seen(
    processor: SignalProcessor,
) -> None:
    state = AccountState(ACCOUNT)
    unknown = processor.apply(state, snooze("c1", at(0), at(5)), now=at(0))
    assert [r.kind for r in unknown.rejections] == ["invalid_command"]
    assert unknown.rejections[0].message.startswith("account_id: Pulse has no event")
    assert state.first_us == -1
    assert state.seen == 0
    processor.apply(state, login(at(1)), now=at(1))
    # Still none before it in event time: a replay applies it where it stands.
    early = processor.apply(state, snooze("c2", at(0, 20), at(5)), now=at(1))
    assert [r.kind for r in early.rejections] == ["invalid_command"]
    known = processor.apply(state, snooze("c3", at(1, 13), at(5)), now=at(1, 13))
    assert known.rejections == ()
    assert state.seen != 0  # the login's; the snooze added no data


def test_under_a_reorder_window_refusals_come_on_arrival_not_on_release() -> None:
    """A held message's refusal must come while the engine still has the message to
    dead-letter: a bad command, and a usage quantity that is not a number. A refusal
    that depends on what came before in event time comes on release, and names the
    message it came in."""
    from datetime import timedelta

    from tests.signals.factories import usage

    processor = SignalProcessor(
        CONFIG.model_copy(update={"reorder_window": timedelta(microseconds=1)})
    )
    state = AccountState(ACCOUNT)
    bad_rule = processor.apply(state, snooze("c1", at(1), at(9), rule="nope"), now=at(0))
    assert [r.kind for r in bad_rule.rejections] == ["invalid_command"]
    bad_count = processor.apply(state, usage("API Calls", at(1), eid="u1", count="many"), now=at(0))
    assert [r.kind for r in bad_count.rejections] == ["invalid_quantity"]
    # A snooze before the account's first event: held, refused on release with its source.
    early = processor.apply(
        state, snooze("c0", at(0, 13), at(9)), now=at(0, 13), source="t:0:7", original=b"{}"
    )
    assert early.rejections == ()
    # Released when a later message moves the clock past it: its own source, not the login's.
    released_early = processor.apply(state, login(at(0, 14)), now=at(0, 14))
    assert [(r.kind, r.event_id, r.source, r.original_b64) for r in released_early.rejections] == [
        ("invalid_command", "c0", "t:0:7", "e30=")
    ]
    good = processor.apply(state, snooze("c2", at(1), at(9)), now=at(1))
    assert good.rejections == ()
    assert state.pending
    released = processor.tick(state, at(2))
    assert [n.kind for n in released.notes] == ["rule_snoozed"]
    assert state.pending == []
