"""Replay: event-time order, ticks for absence rules, user resolution and parking."""

from __future__ import annotations

from datetime import timedelta

from signals.config import SignalsConfig
from signals.replay import replay
from signals.rules import default_rules
from tests.signals.factories import ACCOUNT, at, login, subscription, usage
from topics.models import UserLink

RULES = default_rules()


def _link(user: str, when_day: float, account: str = ACCOUNT) -> tuple[str, UserLink]:
    link = UserLink(
        event_id=f"g-{user}", occurred_at=at(when_day), user_id=user, account_id=account
    )
    return "usage", link


def test_replay_is_independent_of_input_order_and_deterministic() -> None:
    """Three users a day for 30 days, then silence: gone_quiet fires on a replay tick."""
    events = [
        ("usage", login(at(d), user=f"u{u}", eid=f"l{d}-{u}")) for d in range(30) for u in range(3)
    ]
    forward = replay(events, SignalsConfig(), RULES, until=at(50))
    backward = replay(list(reversed(events)), SignalsConfig(), RULES, until=at(50))
    assert forward.triggers
    assert [t.trigger_id for t in forward.triggers] == [t.trigger_id for t in backward.triggers]
    assert forward.summary.triggers_by_rule == {"gone_quiet": 1}
    assert forward.summary.events == 90
    assert forward.summary.accounts == 1


def test_user_only_events_resolve_through_a_link() -> None:
    events = [
        ("usage", usage("Signed In", at(1), user="ann", account=None, eid="a1")),
        _link("ann", 1.5),
        ("usage", usage("Signed In", at(2), user="ann", account=None, eid="a2")),
    ]
    result = replay(events, SignalsConfig(), RULES, until=at(3))
    state = result.states[ACCOUNT]
    assert len(state.user_digests) == 1
    assert sum(b.counts[0] for b in state.buckets.values()) == 2
    assert result.rejections == ()


def test_an_unlinked_user_is_rejected_after_the_parking_time() -> None:
    events = [
        ("usage", usage("Signed In", at(1), user="ghost", account=None, eid="g1")),
        ("billing", subscription(at(1))),
    ]
    result = replay(events, SignalsConfig(), RULES, until=at(3), park_for=timedelta(hours=6))
    assert [(r.kind, r.event_id) for r in result.rejections] == [("unresolved_user", "g1")]
    assert result.summary.rejections_by_kind == {"unresolved_user": 1}


def test_duplicates_are_counted_not_applied() -> None:
    event = login(at(1), eid="dup")
    result = replay([("usage", event), ("usage", event)], SignalsConfig(), RULES, until=at(2))
    assert result.summary.rejections_by_kind == {"duplicate": 1}
