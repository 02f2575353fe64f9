"""Support metrics: ticket trend, open tickets, CSAT."""

from __future__ import annotations

from datetime import datetime

from signals.config import SignalsConfig
from signals.metrics.registry import HIGH_PRIORITY, memoised, metric, weekly_trend
from signals.state import (
    CLOSED,
    FACET_CSAT,
    FACET_TICKET_STATUS,
    SEEN_TICKETS,
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
