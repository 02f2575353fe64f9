"""The billing system's own trials (Stripe's ``trial_start`` / ``trial_end``), per subscription.

A priced subscription in its trial says nothing else about being one: no "Trial" plan,
perhaps no CRM stage. What tells a lapsed trial from paid churn is whether the
subscription ever turned ``active`` once its trial had closed: a trial that converts
does so at ``trial_end``; one that lapses ends at it, or goes ``past_due`` and ends
after dunning, never having paid. A paid subscription beside an add-on's trial makes
the account no trial.

Each subscription's trial is one billing register, ``trial:<subscription id>`` (``trial:``
for events naming none) -> [trial end (µs), paid since]; ``trial_start_us`` and
``trial_end_us`` keep the latest trial's dates for ``trial_progress``.
"""

from __future__ import annotations

from typing import Final

from signals.state import AccountState, lww, micros
from topics.models import BillingEvent

__all__ = ["billed_trial", "record_trial"]

PREFIX: Final = "trial:"
_SUBSCRIPTION: Final = "sub:"
_DAY_US: Final = 86_400_000_000


def record_trial(state: AccountState, event: BillingEvent, ts: int, eid: int) -> None:
    """Note a subscription event's trial dates, and whether it paid once the trial closed."""
    key = PREFIX + (event.subscription_id or "")
    known = state.billing.get(key)
    if event.trial_end is None and known is None:
        return
    end = micros(event.trial_end) if event.trial_end is not None else known[2][0]  # type: ignore[index]
    if known is not None and known[2][0] != end and (ts, eid) < (known[0], known[1]):
        return  # a late event about an earlier trial
    paid = known is not None and known[2][0] == end and bool(known[2][1])
    status = event.subscription_status
    revenue = status is None and (event.mrr or 0) > 0
    if ts >= end and event.action != "subscription_cancelled" and (status == "active" or revenue):
        paid = True
    stamp = (ts, eid) if known is None else max((ts, eid), (known[0], known[1]))
    state.billing[key] = [stamp[0], stamp[1], [end, paid]]
    lww(state.billing, "trial_end_us", ts, eid, end)
    if event.trial_start is not None:
        lww(state.billing, "trial_start_us", ts, eid, micros(event.trial_start))


def billed_trial(state: AccountState) -> bool | None:
    """Whether the billing system says the account is (or ended) in a trial never paid
    for; None when it has said nothing of trials. Judged over the subscriptions live at
    the account's latest word (or ending with it, within a day): every one a trial."""
    trials = {k[len(PREFIX) :]: v[2] for k, v in state.billing.items() if k.startswith(PREFIX)}
    if not trials:
        return None
    subscriptions = {
        k[len(_SUBSCRIPTION) :]: v for k, v in state.billing.items() if k.startswith(_SUBSCRIPTION)
    }
    if not subscriptions:
        record = trials.get("")
        return None if record is None else not record[1]
    status = state.billing.get("status")
    latest = status[0] if status is not None else max(v[0] for v in subscriptions.values())
    relevant = [
        sid
        for sid, register in subscriptions.items()
        if register[2][0] != "cancelled" or register[0] >= latest - _DAY_US
    ]
    if not relevant:
        return None
    return all(sid in trials and not trials[sid][1] for sid in relevant)
