"""Support metrics: ticket trend, open tickets, CSAT."""

from __future__ import annotations

import math
from datetime import datetime

from signals.config import SignalsConfig
from signals.folds import Sum, fold_days
from signals.metrics.registry import HIGH_PRIORITY, memoised, metric, weekly_trend
from signals.state import (
    CLOSED,
    FACET_CSAT,
    FACET_TICKET_STATUS,
    SEEN_TICKETS,
    TICKETS_HIGH_OPENED,
    TICKETS_OPENED,
    AccountState,
    counter_bit,
)

# -- support ---------------------------------------------------------------------


@metric("ticket_trend", reads=counter_bit(TICKETS_OPENED))
def ticketweekly_trend(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
    """Tickets opened in 7 days over the prior 4-week weekly average (1.0 is flat)."""
    change = memoised("tickets_vs_prior_4w", state, as_of, config)
    return None if change is None else change + 1


@metric("tickets_vs_prior_4w", reads=counter_bit(TICKETS_OPENED))
def tickets_vs_prior_4w(
    state: AccountState, as_of: datetime, config: SignalsConfig
) -> float | None:
    """Relative change of 7-day tickets against the prior 4-week weekly average (floored)."""
    if not state.has(SEEN_TICKETS):
        return None
    return weekly_trend(state, as_of, TICKETS_OPENED, config.windows.ticket_trend_floor_per_week)


def poisson_surprise(count: float, rate: float) -> float:
    """-log10 of the chance of ``count`` or more events where ``rate`` are expected: 2 is
    one week in a hundred, 3 one in a thousand. Exact for the small counts tickets are."""
    k = int(count)
    if k <= 0:
        return 0.0
    term = math.exp(-rate)  # P(X = 0)
    below = 0.0
    for i in range(k):
        below += term
        term *= rate / (i + 1)
    tail = 1.0 - below
    if tail < 1e-12:  # 1 - below loses its digits: sum the tail's terms instead
        tail, term = 0.0, math.exp(-rate) * rate**k / math.factorial(k)
        for i in range(k, k + 200):
            tail += term
            term *= rate / (i + 1)
    return -math.log10(max(tail, 1e-300))


def _surprise(state: AccountState, as_of: datetime, counter: int, floor: float) -> float | None:
    """How improbable the last 7 days' count is at the prior 4 weeks' weekly rate."""
    if not state.has(SEEN_TICKETS):
        return None
    today = as_of.toordinal()
    recent = fold_days(state, Sum(counter), today - 6, today)
    rate = max(fold_days(state, Sum(counter), today - 34, today - 7) / 4, floor)
    return poisson_surprise(recent, rate)


@metric("tickets_surprise_7d", reads=counter_bit(TICKETS_OPENED))
def tickets_surprise_7d(
    state: AccountState, as_of: datetime, config: SignalsConfig
) -> float | None:
    """How unusual the last 7 days' tickets are for this account: -log10 of the chance
    of that many or more at its prior 4-week weekly rate (floored). A ratio calls 6
    tickets against 2 a week a tripling; an account that files 2 a week does that one
    week in 60. 3 is one week in a thousand."""
    return _surprise(state, as_of, TICKETS_OPENED, config.windows.ticket_trend_floor_per_week)


@metric("urgent_tickets_surprise_7d", reads=counter_bit(TICKETS_HIGH_OPENED))
def urgent_tickets_surprise_7d(
    state: AccountState, as_of: datetime, config: SignalsConfig
) -> float | None:
    """``tickets_surprise_7d`` of high and urgent tickets, floored at a quarter of the
    ticket floor: most weeks of most accounts have none."""
    floor = config.windows.ticket_trend_floor_per_week / 4
    return _surprise(state, as_of, TICKETS_HIGH_OPENED, floor)


@metric("tickets_open", reads=FACET_TICKET_STATUS)
def tickets_open(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
    if not state.has(SEEN_TICKETS):
        return None
    return float(sum(1 for t in state.tickets.values() if t[0] != CLOSED))


@metric("tickets_open_high_urgent", reads=FACET_TICKET_STATUS)
def tickets_open_high_urgent(
    state: AccountState, as_of: datetime, config: SignalsConfig
) -> float | None:
    if not state.has(SEEN_TICKETS):
        return None
    return float(sum(1 for t in state.tickets.values() if t[0] != CLOSED and t[3] >= HIGH_PRIORITY))


@metric("csat_avg_90d", reads=FACET_CSAT)
def csat_avg_90d(state: AccountState, as_of: datetime, config: SignalsConfig) -> float | None:
    today = as_of.toordinal()
    first = today - config.windows.csat_days + 1
    scores = [r[3] for r in state.csat.values() if first <= r[2] <= today]
    return sum(scores) / len(scores) if scores else None
