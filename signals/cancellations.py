"""An account's cancellation, published once: the outcome its churn-risk alerts answer to.

A cancelled account gets no more churn-risk triggers (``SignalProcessor._withheld``);
what a CS platform needs then is the outcome itself, once, with what Pulse had said
before it: the churn-risk alerts that paged someone in the horizon before the end
(since the account last came back, if it had left before). That is what a team learns
from (which rules warned, how early), live, without waiting for a backtest.

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

from signals.metrics.lifecycle import is_cancelled, notice_stands
from signals.state import AccountState, from_micros
from signals.trials import billed_trial
from topics.models import Cancellation, PriorAlert

_SENT = 5
"""A fired-log entry this long paged someone; a longer one says what became of it."""
_REVISED = "revised"
"""It paged someone, and late data withdrew it since (``SignalProcessor._revisions``).
A "joined" entry paged nobody: it joined a conversation already open."""


def cancellation_id(account_id: str, ended_us: int) -> str:
    return blake2b(
        f"{account_id}\x1fcancellation\x1f{ended_us}".encode(), digest_size=16
    ).hexdigest()


def is_trial(state: AccountState) -> bool:
    """The subscription is a trial. The billing system's word comes first: with trial
    dates, every subscription live at the end was in a trial it never paid for
    (``signals.trials``), whatever the CRM's stage or the plan's name say. Without
    them: the plan or the CRM's lifecycle stage says trial, or a trial was started and
    no recurring revenue is known. (MRR 0 alone is not one: a paid subscription
    paused, or between invoices, has none.)"""
    billed = billed_trial(state)
    if billed is not None:
        return billed
    plan = state.fact(state.billing, "plan") or state.fact(state.profile, "plan")
    if isinstance(plan, str) and plan.strip().lower() == "trial":
        return True
    if state.fact(state.profile, "lifecycle_stage") == "trial":
        return True
    return state.trial_started_day >= 0 and not state.fact(state.billing, "mrr")


def newly_cancelled(
    state: AccountState, kinds: Mapping[str, str], horizon: timedelta
) -> Cancellation | None:
    """The account's cancellation if its subscription has just ended and none was made
    for it yet; ``kinds`` maps rule ids to their kind (to pick the churn-risk alerts)."""
    status = state.billing.get("status")
    if not is_cancelled(state):
        if state.cancelled_us >= 0 and status is not None:  # back: a later end is new
            state.cancelled_us, state.returned_us = -1, status[0]
        return None
    if state.cancelled_us >= 0 or status is None:
        return None
    ended_us = status[0]
    state.cancelled_us = ended_us
    since_us = max(ended_us - horizon // timedelta(microseconds=1), state.returned_us)
    alerts = sorted(
        (entry[3], entry[0], entry[1], len(entry) > _SENT)
        for entry in state.fired
        if (len(entry) == _SENT or entry[_SENT] == _REVISED)
        and kinds.get(entry[1]) == "churn_risk"
        and since_us <= entry[3] <= ended_us
    )
    return Cancellation(
        cancellation_id=cancellation_id(state.account_id, ended_us),
        account_id=state.account_id,
        cancelled_at=from_micros(ended_us),
        scheduled=notice_stands(state),
        trial=is_trial(state),
        mrr=state.fact(state.billing, "mrr"),
        plan=state.fact(state.billing, "plan") or state.fact(state.profile, "plan"),
        csm_owner=state.fact(state.profile, "csm_owner"),
        prior_alerts=[
            PriorAlert(trigger_id=trigger, rule_id=rule, fired_at=from_micros(at), revised=revised)
            for at, trigger, rule, revised in alerts
        ],
        horizon_days=max(1, horizon.days),
    )
