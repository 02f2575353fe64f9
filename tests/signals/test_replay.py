"""Replay: event-time order, ticks for absence rules, user resolution and parking."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson

from signals.config import SignalsConfig
from signals.replay import replay
from signals.rules import default_rules
from tests.signals.factories import ACCOUNT, at, billing, login, profile, subscription, usage
from topics.codec import decode_usage
from topics.models import UsageEvent, UserAlias, UserLink

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


def test_a_group_calls_account_traits_reach_the_account_profile() -> None:
    """A Segment group call links its user and updates its account's profile: the
    account's triggers are for the owner the traits name."""
    group = {
        "type": "group",
        "messageId": "grp-1",
        "userId": "ann",
        "groupId": ACCOUNT,
        "timestamp": at(0).isoformat(),
        "traits": {"name": "Initech", "owner": "cara", "seats": 12, "segment": "SMB"},
    }
    link = decode_usage(orjson.dumps(group))
    events = [("usage", link)] + [
        ("usage", login(at(d), user=f"u{u}", eid=f"l{d}-{u}")) for d in range(40) for u in range(3)
    ]
    result = replay(events, SignalsConfig(), RULES, until=at(70))

    state = result.states[ACCOUNT]
    assert state.fact(state.profile, "name") == "Initech"
    assert state.fact(state.profile, "segment") == "smb"
    assert state.fact(state.profile, "seats") == 12
    assert result.triggers  # the account went quiet
    assert {t.csm_owner for t in result.triggers} == {"cara"}


def _invoice(when_day: float, eid: str, account: str | None, customer: str) -> tuple[str, Any]:
    failed = billing("payment_failed", at(when_day), eid=eid, amount=99.0, invoice_id=f"in-{eid}")
    return "billing", failed.model_copy(update={"account_id": account, "customer_id": customer})


def test_a_customer_only_billing_event_waits_for_a_link_learned_from_another_event() -> None:
    """An invoice naming only its Stripe customer is parked; a later subscription event
    naming both the customer and the account links them and releases it. After that,
    the customer's events resolve at once."""
    started = subscription(at(2), eid="sub").model_copy(update={"customer_id": "cus_9"})
    events = [
        _invoice(1, "early", None, "cus_9"),
        ("billing", started),
        _invoice(5, "later", None, "cus_9"),
    ]
    result = replay(events, SignalsConfig(), RULES, until=at(8), park_for=timedelta(days=3))

    assert result.rejections == ()
    state = result.states[ACCOUNT]
    assert sorted(state.payments) == ["in-early", "in-later"]


def test_an_account_profile_names_its_billing_customer() -> None:
    linked = profile(at(0), eid="crm").model_copy(update={"billing_customer_id": "cus_5"})
    events = [("accounts", linked), _invoice(1, "inv", None, "cus_5")]
    result = replay(events, SignalsConfig(), RULES, until=at(3))

    assert result.rejections == ()
    assert "in-inv" in result.states[ACCOUNT].payments


def test_a_customer_never_linked_is_rejected_with_how_to_link_it() -> None:
    events = [_invoice(1, "orphan", None, "cus_0"), ("billing", subscription(at(1)))]
    result = replay(events, SignalsConfig(), RULES, until=at(4), park_for=timedelta(days=1))

    [rejection] = result.rejections
    assert (rejection.kind, rejection.event_id) == ("unresolved_customer", "orphan")
    assert "'cus_0'" in rejection.message
    assert "billing_customer_id" in rejection.message


def _alias(previous: str, user: str, when_day: float, eid: str) -> tuple[str, UserAlias]:
    alias = UserAlias(event_id=eid, occurred_at=at(when_day), user_id=previous, alias_of=user)
    return "usage", alias


def _anon(when_day: float, eid: str) -> tuple[str, UsageEvent]:
    return "usage", usage("Signed In", at(when_day), user="anon-1", account=None, eid=eid)


def test_an_aliased_id_belongs_to_the_account_its_user_had_at_the_alias() -> None:
    """An anonymous id's events: one before the alias waits and is released by it; one
    after resolves at once; the user's later move does not take the id along (a worker
    could not order the move before the id's own later events)."""
    events = [
        _link("ann", 0),
        _anon(1, "before"),
        _alias("anon-1", "ann", 1.2, "al-1"),
        _anon(2, "after"),
        _link("ann", 3, account="globex"),
        _anon(4, "moved"),
    ]
    result = replay(events, SignalsConfig(), RULES, until=at(6))

    assert result.rejections == ()
    runs = {a: sum(b.counts[0] for b in s.buckets.values()) for a, s in result.states.items()}
    assert runs == {ACCOUNT: 3}


def test_an_alias_before_its_users_link_waits_for_it() -> None:
    events = [_anon(1, "a1"), _alias("anon-1", "ann", 1.1, "al-1"), _link("ann", 1.3)]
    result = replay(events, SignalsConfig(), RULES, until=at(3))

    assert result.rejections == ()
    assert ACCOUNT in result.states


def test_aliases_are_not_followed_in_chains() -> None:
    """anon-1 is an alias of anon-2, itself an alias of ann: anon-1 stays unlinked (a
    derived link is never derived from again, so two ids aliased to each other cannot
    pass links around for ever)."""
    events = [
        _link("ann", 0),
        _alias("anon-2", "ann", 0.5, "al-2"),
        _alias("anon-1", "anon-2", 0.6, "al-1"),
        _alias("anon-2", "anon-1", 0.7, "al-3"),
        _anon(1, "lost"),
    ]
    result = replay(events, SignalsConfig(), RULES, until=at(4), park_for=timedelta(days=1))

    assert [(r.kind, r.event_id) for r in result.rejections] == [("unresolved_user", "lost")]
