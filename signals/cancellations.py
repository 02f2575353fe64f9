"""An account's cancellation, published once: the outcome its churn-risk alerts answer to.

A cancelled account gets no more churn-risk triggers (``SignalProcessor._withheld``);
what a CS platform needs then is the outcome itself, once, with what Pulse had said
before it: the churn-risk alerts that paged someone in the horizon before the end.
That is what a team learns from (which rules warned, how early), live, without
waiting for a backtest.

Once means once per cancellation: the record is made when the account's subscription
status turns to cancelled, and the account remembers it (``AccountState.cancelled_us``)
until the account is active again, so a repeated or late cancellation event does not
make another. An account that comes back and leaves again has a second cancellation,
with its own id. The id is a hash of the account and the end's event time, so a replay
or a worker restarting gives the same id and consumers deduplicate by it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from hashlib import blake2b

from signals.metrics.lifecycle import is_cancelled
from signals.state import AccountState, from_micros
from topics.models import Cancellation, PriorAlert

_JOINED = 5
"""Fired-log entries longer than this were not sent (joined a conversation, revised)."""


def cancellation_id(account_id: str, ended_us: int) -> str:
    return blake2b(
        f"{account_id}\x1fcancellation\x1f{ended_us}".encode(), digest_size=16
    ).hexdigest()


def newly_cancelled(
    state: AccountState, kinds: Mapping[str, str], horizon: timedelta
) -> Cancellation | None:
    """The account's cancellation if its subscription has just ended and none was made
    for it yet; ``kinds`` maps rule ids to their kind (to pick the churn-risk alerts)."""
    if not is_cancelled(state):
        state.cancelled_us = -1  # active (again): a later cancellation is a new one
        return None
    if state.cancelled_us >= 0:
        return None
    ended_us = state.billing["status"][0]
    state.cancelled_us = ended_us
    since_us = ended_us - horizon // timedelta(microseconds=1)
    alerts = sorted(
        (entry[3], entry[0], entry[1])
        for entry in state.fired
        if len(entry) == _JOINED
        and kinds.get(entry[1]) == "churn_risk"
        and since_us <= entry[3] <= ended_us
    )
    mrr = state.fact(state.billing, "mrr")
    plan = state.fact(state.billing, "plan") or state.fact(state.profile, "plan")
    stage = state.fact(state.profile, "lifecycle_stage")
    return Cancellation(
        cancellation_id=cancellation_id(state.account_id, ended_us),
        account_id=state.account_id,
        cancelled_at=from_micros(ended_us),
        scheduled=bool(state.fact(state.billing, "cancel_scheduled")),
        trial=mrr == 0 or stage == "trial" or (plan or "").strip().lower() == "trial",
        mrr=mrr,
        plan=plan,
        csm_owner=state.fact(state.profile, "csm_owner"),
        prior_alerts=[
            PriorAlert(trigger_id=trigger, rule_id=rule, fired_at=from_micros(at))
            for at, trigger, rule in alerts
        ],
        horizon_days=max(1, horizon.days),
    )
