"""The driver's rules (ticks per account, links by event time, parking, publication),
which the replay and the live worker both follow."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from signals.config import SignalsConfig
from signals.core import SignalProcessor
from signals.driver import (
    AccountDriver,
    TickSchedule,
    expired,
    link_wins,
    released,
    worth_publishing,
)
from signals.resolve import UserResolver
from signals.rules import default_rules
from signals.state import EPOCH, AccountState, micros
from tests.signals.factories import ACCOUNT, at, login, subscription, ticket, usage
from topics.models import UserLink

DAY = timedelta(days=1)
DAY_US = 86_400_000_000
_MICROSECOND = timedelta(microseconds=1)


@dataclass
class Memory:
    tick_us: int = -1
    ticked: bool = False


@dataclass
class Last:
    score: float | None = None
    band: str = "unknown"
    at_us: int = -1


def test_an_account_is_ticked_at_each_boundary_after_its_first_event_once() -> None:
    schedule = TickSchedule(DAY)
    memory = Memory()
    schedule.arrive(memory, micros(at(3)))
    assert list(schedule.due(memory, micros(at(3)))) == []
    due = list(schedule.due(memory, schedule.boundary(micros(at(5)))))
    assert due == [micros(at(4, 0)), micros(at(5, 0))]


def test_an_older_event_moves_the_start_back_only_before_the_first_tick() -> None:
    schedule = TickSchedule(DAY)
    memory = Memory()
    schedule.arrive(memory, micros(at(3)))
    schedule.arrive(memory, micros(at(1)))
    assert memory.tick_us == micros(at(1, 0))
    memory.ticked = True
    schedule.arrive(memory, micros(at(0)))
    assert memory.tick_us == micros(at(1, 0))


def test_catching_up_at_once_or_day_by_day_gives_the_same_triggers() -> None:
    processor = SignalProcessor(SignalsConfig(), default_rules())
    driver = AccountDriver(processor, TickSchedule(DAY))

    def run(steps: list[int]) -> list[str]:
        state, memory = AccountState(ACCOUNT), Memory()
        ids: list[str] = []
        for day in range(30):
            for user in range(3):
                event = login(at(day), user=f"u{user}", eid=f"l{day}-{user}")
                driver.schedule.arrive(memory, micros(event.occurred_at))
                ids += [t.trigger_id for t in processor.apply(state, event, at(day)).triggers]
        for upto in steps:
            for outcome in driver.catch_up(state, memory, micros(at(upto, 0))):
                ids += [t.trigger_id for t in outcome.triggers]
        return ids

    once = run([55])
    assert once, "gone quiet never fired: nothing is compared"
    assert run(list(range(30, 56))) == once
    assert run([31, 31, 40, 55]) == once


def test_the_latest_link_by_event_time_wins_whatever_the_arrival_order() -> None:
    assert link_wins(None, 5, "a")
    assert link_wins((5, "a"), 6, "a")
    assert not link_wins((6, "a"), 5, "z")
    assert link_wins((5, "a"), 5, "b")
    assert not link_wins((5, "b"), 5, "a")


def test_a_link_releases_what_waited_less_than_the_parking_time() -> None:
    assert released(0, DAY_US - 1, DAY_US)
    assert not released(0, DAY_US, DAY_US)
    assert expired(0, DAY_US, DAY_US)
    assert not expired(0, DAY_US - 1, DAY_US)


def test_health_is_worth_publishing_on_a_band_change_a_move_or_daily() -> None:
    last = Last(50.0, "yellow", micros(at(1)))
    assert worth_publishing(Last(), 50.0, "yellow", at(1), 5)
    assert worth_publishing(last, 50.0, "red", at(1), 5)
    assert worth_publishing(last, 55.0, "yellow", at(1), 5)
    assert not worth_publishing(last, 54.0, "yellow", at(1.5), 5)
    assert worth_publishing(last, 50.0, "yellow", at(2), 5)


def _link(user: str, account: str, day: float, eid: str) -> UserLink:
    return UserLink(event_id=eid, occurred_at=at(day), user_id=user, account_id=account)


@settings(max_examples=60, deadline=None)
@given(st.permutations(range(5)))
def test_links_resolve_the_same_in_any_arrival_order(order: list[int]) -> None:
    """Group calls for one user arriving in any order leave the same link, and each
    parked event is released or rejected by event time alone."""
    links = [
        _link("ann", "a1", 1, "g1"),
        _link("ann", "a2", 3, "g2"),
        _link("ann", "a3", 2, "g3"),
        _link("ann", "a4", 3, "g0"),
        _link("ann", "a5", 0.5, "g4"),
    ]
    resolver = UserResolver(DAY)
    for index in order:
        resolver.link(links[index])
    assert resolver.links["ann"][1:] == ("g2", "a2")

    parked = UserResolver(DAY)
    assert parked.resolve(usage("x", at(0), user="bob", account=None, eid="u0"), at(0)) is None
    assert parked.resolve(usage("x", at(1), user="bob", account=None, eid="u1"), at(1)) is None
    events, rejected = parked.link(_link("bob", "b1", 1.5, "gb"))
    assert [e.event_id for e in events] == ["u1"]
    assert [e.account_id for e in events] == ["b1"]
    assert [r.event_id for r in rejected] == ["u0"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=8, max_size=8))
def test_a_clock_that_lags_its_events_by_any_amount_changes_nothing(lags: list[float]) -> None:
    """The driver's account path (arrive, ticks due by the clock, apply, held events
    released by ticks) gives the same triggers and state whether the reader's clock
    keeps up with each event or lags behind it, as a partition's clock lags a replay's:
    ``lags`` says, stretch by stretch, how far back between the last clock and the
    event the clock stands when the event arrives (the event clock never passes an
    event it has not read)."""
    config = SignalsConfig(reorder_window=timedelta(microseconds=1))  # as a worker runs it
    processor = SignalProcessor(config, default_rules())
    events = [subscription(at(0, 1), seats=10), usage("Training Completed", at(0, 3))]
    for day in range(1, 130):
        events += [login(at(day, 9), user=f"u{day % 4}"), usage("Report Run", at(day, 15))]
        if day % 17 == 0:
            events.append(ticket("opened", at(day, 11), ticket_id=f"t{day}"))

    def run(lag_of: Callable[[int], float]) -> tuple[list[str], AccountState]:
        driver = AccountDriver(processor, TickSchedule(DAY))
        state, memory, ids, clock = AccountState(ACCOUNT), Memory(), [], micros(at(0, 0))
        for i, event in enumerate(events):
            occurred = micros(event.occurred_at)
            clock = max(clock, occurred - int(lag_of(i) * (occurred - clock)))
            driver.schedule.arrive(memory, occurred)
            now = EPOCH + clock * _MICROSECOND
            ids += [t.trigger_id for o in driver.catch_up(state, memory, clock) for t in o.triggers]
            ids += [t.trigger_id for t in processor.apply(state, event, now).triggers]
        end = micros(at(131, 0))
        ids += [t.trigger_id for o in driver.catch_up(state, memory, end) for t in o.triggers]
        return ids, state

    in_step = run(lambda i: 0.0)
    assert in_step[0], "nothing fired: nothing is compared"
    lagging = run(lambda i: lags[(i // 37) % len(lags)])
    assert lagging[0] == in_step[0]
    assert lagging[1] == in_step[1]
