"""Peer percentiles: an account's use against accounts of its size (``signals.peers``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from signals.config import SignalsConfig
from signals.metrics import usage  # noqa: F401  (registers PEER_METRIC, read below)
from signals.metrics.lifecycle import is_cancelled
from signals.metrics.registry import METRIC_READS, memoised, metric
from signals.peers import PEER_METRIC, standing
from signals.state import AccountState


@metric("dau_share_peer_percentile", reads=METRIC_READS[PEER_METRIC])
def dau_share_peer_percentile(
    state: AccountState, as_of: datetime, config: SignalsConfig
) -> float | None:
    """Where the account's daily active share of seats (28 days) stands among accounts of
    its size band, 0 to 100, by the frozen peer table (``peers``, learned with ``pulse
    peers``); None without a table for its band, or without usage or seats."""
    if not config.peers.percentiles:
        return None
    seats = memoised("seats_purchased", state, as_of, config)
    value = memoised(PEER_METRIC, state, as_of, config)
    if seats is None or value is None or seats < 1:
        return None
    return standing(config.peers, seats, value)


SAMPLE_WEEKS = 8
"""A peer table reads each account's last 8 weekly values."""
MIN_OBSERVED_DAYS = 28
"""A value counts once the account has been observed for the 28 days it averages."""


def weekly_values(
    state: AccountState, end: datetime, config: SignalsConfig, weeks: int = SAMPLE_WEEKS
) -> list[float]:
    """The peer metric at ``end`` and each week before it, ``weeks`` in all, where the
    account was a customer observed long enough; empty for an account that cancelled."""
    if is_cancelled(state):
        return []
    values = []
    for back in range(weeks):
        as_of = end - timedelta(days=7 * back)
        observed = memoised("observed_days", state, as_of, config)
        if observed is None or observed < MIN_OBSERVED_DAYS:
            break
        value = memoised(PEER_METRIC, state, as_of, config)
        if value is not None:
            values.append(value)
    return values
