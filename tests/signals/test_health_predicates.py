"""Predicates over the daily health history: a red spell is a week of red, not a dip."""

from __future__ import annotations

from signals.config import SignalsConfig
from signals.health import HealthScore
from signals.rules.context import RuleContext
from signals.rules.predicates import PREDICATES, health_red_for_days
from signals.state import AccountState
from tests.signals.factories import ACCOUNT, at

NOW = at(20)


def context(history: dict[int, float], score: float, *, provisional: bool = False) -> RuleContext:
    state = AccountState(ACCOUNT)
    state.health_history = {at(day).toordinal(): value for day, value in history.items()}
    health = HealthScore(NOW, score, "red" if score < 50 else "yellow", (), (), (), provisional)
    return RuleContext(state, NOW, SignalsConfig(), health=health)


def red_spell(first: int, last: int, value: float = 40.0) -> dict[int, float]:
    return dict.fromkeys(range(first, last + 1), value)


def test_a_week_of_red_holds_and_names_the_highest_score_of_the_spell() -> None:
    history = red_spell(13, 19) | {15: 48.5}
    verdict = health_red_for_days(context(history, 42.0), {"days": 7})
    assert verdict.holds
    (fact,) = verdict.facts
    assert (fact.metric, fact.value, fact.threshold, fact.window) == (
        "health_score",
        48.5,
        50.0,
        "7d",
    )


def test_one_yellow_day_in_the_week_breaks_the_spell() -> None:
    history = red_spell(13, 19) | {17: 52.0}
    assert not health_red_for_days(context(history, 42.0), {"days": 7}).holds


def test_a_spell_shorter_than_the_window_does_not_hold() -> None:
    """Red for four days: no score on the window's first day says where it began."""
    assert not health_red_for_days(context(red_spell(16, 19), 42.0), {"days": 7}).holds
    assert health_red_for_days(context(red_spell(16, 19), 42.0), {"days": 4}).holds


def test_not_red_now_or_provisional_does_not_hold() -> None:
    history = red_spell(13, 19)
    assert not health_red_for_days(context(history, 55.0), {"days": 7}).holds
    assert not health_red_for_days(context(history, 42.0, provisional=True), {}).holds


def test_the_predicate_is_registered_with_the_metric_it_reads() -> None:
    assert PREDICATES["health_red_for_days"].metrics == frozenset({"health_score"})
