"""Order-independence properties of the processor (hypothesis)."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from signals.config import SignalsConfig, UsageMapping
from signals.core import SignalProcessor
from signals.ingest import AccountEvent
from signals.rules import default_rules
from signals.state import AccountState
from tests.signals.conftest import CORE
from tests.signals.factories import (
    ACCOUNT,
    at,
    billing,
    login,
    nps,
    subscription,
    ticket,
    usage,
)
from topics.models import Trigger

WINDOW = timedelta(hours=2)
CONFIG = SignalsConfig(usage=UsageMapping(core_features=CORE), reorder_window=WINDOW)
PROCESSOR = SignalProcessor(CONFIG, default_rules())


def _scenario() -> list[AccountEvent]:
    events: list[AccountEvent] = [subscription(at(0, 1), seats=4, eid="sub", mrr=900.0)]
    for day in range(12):
        for user in range(day % 4 + 1):
            events.append(login(at(day, 8 + user * 1.5), user=f"u{user}", eid=f"l{day}-{user}"))
            events.append(
                usage("Query Run", at(day, 9 + user), user=f"u{user}", eid=f"q{day}-{user}")
            )
        if day % 3 == 0:
            events.append(usage("Upgrade Wall Hit", at(day, 14), eid=f"w{day}"))
    events += [
        ticket("opened", at(2, 10), "t1", priority="urgent", eid="t1o"),
        ticket("opened", at(2, 10.5), "t2", priority="high", eid="t2o"),
        ticket("opened", at(3, 11), "t3", priority="urgent", eid="t3o"),
        ticket("rated", at(5, 9), "t1", csat=1, eid="t1r"),
        nps(3, at(4, 12), "r1", eid="n1"),
        nps(10, at(6, 12), "r2", eid="n2"),
        billing("payment_failed", at(7, 3), invoice_id="in1", eid="pf"),
    ]
    return events


EVENTS = _scenario()
TICKS = [at(day, hour) for day in range(13) for hour in (0, 12)] + [at(21)]


def _run(arrivals: list[tuple[datetime, AccountEvent]]) -> list[Trigger]:
    """Deliver events at their arrival times, with ticks at fixed event times in between."""
    timeline: list[tuple[datetime, int, AccountEvent | None]] = [
        (when, 1, event) for when, event in arrivals
    ]
    timeline += [(when, 0, None) for when in TICKS]
    timeline.sort(key=lambda item: (item[0], item[1]))
    state = AccountState(ACCOUNT)
    triggers: list[Trigger] = []
    for when, _, event in timeline:
        outcome = (
            PROCESSOR.tick(state, when) if event is None else PROCESSOR.apply(state, event, when)
        )
        triggers += outcome.triggers
    return triggers


REFERENCE = _run([(event.occurred_at, event) for event in EVENTS])


def test_the_scenario_fires_a_variety_of_rules() -> None:
    assert {t.rule_id for t in REFERENCE} >= {
        "ticket_spike",
        "detractor",
        "promoter",
        "payment_failed",
        "premium_interest",
        "seat_limit",
    }


@settings(max_examples=40, deadline=None)
@given(
    delays=st.lists(
        st.floats(min_value=0, max_value=WINDOW.total_seconds() - 1),
        min_size=len(EVENTS),
        max_size=len(EVENTS),
    ),
    duplicated=st.lists(st.integers(min_value=0, max_value=len(EVENTS) - 1), max_size=10),
    duplicate_delay=st.floats(min_value=0, max_value=WINDOW.total_seconds() - 1),
)
def test_shuffles_within_the_reorder_window_and_duplicates_change_nothing(
    delays: list[float], duplicated: list[int], duplicate_delay: float
) -> None:
    arrivals = [
        (event.occurred_at + timedelta(seconds=delay), event)
        for event, delay in zip(EVENTS, delays, strict=True)
    ]
    arrivals += [
        (EVENTS[i].occurred_at + timedelta(seconds=duplicate_delay), EVENTS[i]) for i in duplicated
    ]
    triggers = _run(arrivals)
    assert [t.trigger_id for t in triggers] == [t.trigger_id for t in REFERENCE]
    assert triggers == REFERENCE
