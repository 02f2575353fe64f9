"""The account view a CSM tool reads: what was sent, what joined a conversation unsent,
and the account's open conversations of each kind."""

from __future__ import annotations

import orjson

from engine.view import account_view
from signals.config import SignalsConfig
from signals.core import SignalProcessor
from signals.state import AccountState
from tests.signals.factories import ACCOUNT, at, nps, profile, subscription, ticket


def test_a_joined_ask_is_shown_as_joined_not_revised() -> None:
    processor = SignalProcessor(SignalsConfig())
    state = AccountState(ACCOUNT)
    events = [
        profile(at(0), executive_sponsor=True),
        subscription(at(0, 2), seats=10),
        ticket("opened", at(1, 9), "t0"),
        ticket("solved", at(1, 10), "t0", csat=5),
        nps(10, at(10), "fan1"),
        nps(10, at(45), "fan2"),  # within the ask opened on day 10
    ]
    for event in events:
        outcome = processor.apply(state, event, now=event.occurred_at)
    assert outcome.health is not None
    view = orjson.loads(account_view(state, processor.snapshot(state, outcome.health), ()).document)
    promoters = [t for t in view["recent_triggers"] if t["rule_id"] == "promoter"]
    assert [(t["joined"], t["revised"], t["open"]) for t in promoters] == [
        (True, False, False),  # day 45, newest first
        (False, False, False),  # day 10, sent; a week old by day 45
    ]
    assert view["advocacy_ask"] == {"last_alert_at": at(10).isoformat(), "severity": "low"}
    assert view["churn_episode"] is None
    assert view["expansion_episode"] is None
