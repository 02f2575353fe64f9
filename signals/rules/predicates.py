"""Named Python predicates for conditions the YAML building blocks cannot express."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from signals.rules.context import FALSE, Fact, RuleContext, Verdict


@dataclass(frozen=True, slots=True)
class Predicate:
    check: Callable[[RuleContext, Mapping[str, float]], Verdict]
    metrics: frozenset[str]
    """Metrics it reads, so the core knows which events can change its answer."""


def health_green_for_weeks(ctx: RuleContext, params: Mapping[str, float]) -> Verdict:
    """Green now and at every daily score since N weeks ago, with a score in every week.

    Health is not bucketed, so "sustained" reads the daily score history instead.
    """
    weeks = int(params.get("weeks", 8))
    green_from = ctx.config.health.green_from
    health = ctx.health
    if health is None or health.provisional or health.score is None or health.score < green_from:
        return FALSE
    today = ctx.as_of.toordinal()
    first = today - 7 * weeks + 1
    history = ctx.state.health_history
    if first not in history:
        return FALSE
    weeks_scored = (range(first + 7 * w, first + 7 * (w + 1)) for w in range(weeks))
    if not all(any(d in history for d in week) for week in weeks_scored):
        return FALSE
    lowest = min(history[d] for d in range(first, today + 1) if d in history)
    if lowest < green_from:
        return FALSE
    detail = "lowest daily score in the window"
    fact = Fact("health_score", lowest, green_from, ">=", f"{weeks}w", detail)
    return Verdict(holds=True, facts=(fact,))


def health_red_for_days(ctx: RuleContext, params: Mapping[str, float]) -> Verdict:
    """Red now and at every daily score of the last N days, scored on the first of them.

    A score that dips into red for a day or two on a noisy week is not a fall; one that
    stays red for a week is. The daily history holds judged scores only."""
    days = int(params.get("days", 7))
    red_below = ctx.config.health.yellow_from
    health = ctx.health
    if health is None or health.provisional or health.score is None or health.score >= red_below:
        return FALSE
    today = ctx.as_of.toordinal()
    first = today - days
    history = ctx.state.health_history
    if first not in history:
        return FALSE
    highest = max(history[d] for d in range(first, today) if d in history)
    if highest >= red_below:
        return FALSE
    detail = "highest daily score in the window"
    fact = Fact("health_score", max(highest, health.score), red_below, "<", f"{days}d", detail)
    return Verdict(holds=True, facts=(fact,))


_PREDICATES = {
    "health_green_for_weeks": Predicate(health_green_for_weeks, frozenset({"health_score"})),
    "health_red_for_days": Predicate(health_red_for_days, frozenset({"health_score"})),
}
PREDICATES: Final[Mapping[str, Predicate]] = MappingProxyType(_PREDICATES)
