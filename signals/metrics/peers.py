"""Peer percentiles: an account's use against accounts of its size (``signals.peers``)."""

from __future__ import annotations

from datetime import datetime

from signals.config import SignalsConfig
from signals.metrics import usage  # noqa: F401  (registers PEER_METRIC, read below)
from signals.metrics.lifecycle import is_cancelled
from signals.metrics.registry import METRIC_READS, memoised, metric
from signals.peers import PEER_METRIC, PEER_PERCENTILE, standing
from signals.state import AccountState


@metric(PEER_PERCENTILE, reads=METRIC_READS[PEER_METRIC])
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


MIN_OBSERVED_DAYS = 28
"""A customer's share counts once it has been observed for the 28 days it averages."""


def peer_sample(state: AccountState, end: datetime, config: SignalsConfig) -> float | None:
    """A customer's value for a peer table learned at ``end``: its share of seats active
    over the 28 days to ``end``; None for an account that cancelled, was observed for
    fewer than 28 days, or has no usage or seats."""
    if is_cancelled(state):
        return None
    observed = memoised("observed_days", state, end, config)
    if observed is None or observed < MIN_OBSERVED_DAYS:
        return None
    return memoised(PEER_METRIC, state, end, config)
