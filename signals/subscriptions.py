"""An account's several subscriptions: each remembered latest-wins, the account's MRR,
seats and status their aggregate.

Each subscription is one billing register, ``sub:<id>`` -> [status, mrr, seats],
so the state format is unchanged (older states simply have none). The account
is cancelled only when every subscription it has shown is; a paused
subscription earns nothing; MRR is unknown when a live subscription's is.
Dunning statuses (``past_due``, ``unpaid``, ``incomplete``) mark the
subscription's latest invoice unpaid; ``active`` or ``trialing`` resolves it.

Each subscription's notice of cancellation is its own register too, ``notice:<id>``
-> [set to cancel, when (µs) or None]: the account is leaving only when every live
subscription is set to cancel. An add-on set to cancel at its period's end is a
contraction, not the account giving notice.
"""

from __future__ import annotations

from typing import Any, Final

from signals.state import AccountState, Stamped, lww, micros
from topics.models import BillingEvent

__all__ = ["PAYMENT_TROUBLE", "account_notice", "fold_subscription"]

PREFIX: Final = "sub:"
NOTICE: Final = "notice:"
_ENDED: Final = frozenset({"canceled", "incomplete_expired"})
"""Statuses (Stripe's spelling) of a subscription that has ended, though the event that
says so is an update rather than a cancellation."""
PAYMENT_TROUBLE: Final = frozenset(["past_due", "unpaid", "incomplete"])
_IN_GOOD_STANDING: Final = frozenset(["active", "trialing"])


def fold_subscription(state: AccountState, event: BillingEvent, ts: int, eid: int) -> bool:
    """Record one subscription's snapshot and re-aggregate; True when payments changed."""
    if event.subscription_id is None:
        return False
    cancelled = event.action == "subscription_cancelled" or event.subscription_status in _ENDED
    status = "cancelled" if cancelled else (event.subscription_status or "active")
    known = state.billing.get(PREFIX + event.subscription_id)
    stray = event.action == "subscription_updated" and not (event.mrr or 0) > 0
    if stray and event.subscription_status is None and known is not None:
        status = known[2][0]  # an update naming no status and no revenue keeps the last one
    snapshot = [status, event.mrr, event.seats_purchased]
    lww(state.billing, PREFIX + event.subscription_id, ts, eid, snapshot)
    _notice(state, event, event.subscription_id, ts, eid)
    _aggregate(state)
    return _dunning(state, event, ts)


def _notice(state: AccountState, event: BillingEvent, sub: str, ts: int, eid: int) -> None:
    """The subscription's latest say on cancelling; a start without one says no."""
    scheduled = event.cancel_scheduled
    if scheduled is None and event.cancel_at is not None:
        scheduled = True
    if scheduled is None and event.action == "subscription_started":
        scheduled = False
    if scheduled is not None:
        at = micros(event.cancel_at) if scheduled and event.cancel_at is not None else None
        known = state.billing.get(NOTICE + sub)
        if scheduled and at is None and known is not None and known[2][0]:
            at = known[2][1]  # a notice repeated without its date keeps the date known
        lww(state.billing, NOTICE + sub, ts, eid, [scheduled, at])


def account_notice(state: AccountState, account_wide: bool) -> tuple[bool, int | None] | None:
    """Whether the account is set to leave, from its subscriptions' own notices, and
    when the last of them ends (µs, None when one does not say): every live subscription
    set to cancel, or once none is live, the last to end was. A subscription that never
    said stands by ``account_wide``, the notice of events naming no subscription (or of
    state kept before subscriptions had their own). None when no subscription has said
    anything of cancelling by its id: the account-wide notice is all there is.
    """
    notices = {k[len(NOTICE) :]: r[2] for k, r in state.billing.items() if k.startswith(NOTICE)}
    if not notices:
        return None
    subscriptions = {k[len(PREFIX) :]: r for k, r in state.billing.items() if k.startswith(PREFIX)}
    live = [sub for sub, r in subscriptions.items() if r[2][0] != "cancelled"]
    if not live and subscriptions:
        live = [max(subscriptions, key=lambda sub: subscriptions[sub][:2])]
    wide = [account_wide, state.fact(state.billing, "cancel_at_us") if account_wide else None]
    said = [notices.get(sub, wide) for sub in live]
    if not said or not all(notice[0] for notice in said):
        return False, None
    ends = [notice[1] for notice in said]
    return True, None if None in ends else max(e for e in ends if e is not None)


def _aggregate(state: AccountState) -> None:
    registers = [r for k, r in state.billing.items() if k.startswith(PREFIX)]
    stamp = max((r[0], r[1]) for r in registers)
    live = [r[2] for r in registers if r[2][0] != "cancelled"]
    mrr: Any = 0.0
    for status, value, _ in live:
        if status == "paused":
            continue
        mrr = None if mrr is None or value is None else mrr + value
    seats = [value[2] for value in live if value[2] is not None]
    _set(state.billing, "status", stamp, "active" if live else "cancelled")
    if live:
        _set(state.billing, "mrr", stamp, None if mrr is None else round(mrr, 4))
        _set(state.billing, "seats_purchased", stamp, sum(seats) if seats else None)


def _set(registers: dict[str, Stamped], field: str, stamp: tuple[int, int], value: Any) -> None:
    """An aggregate is recomputed from its parts, so it replaces the value outright."""
    current = registers.get(field)
    if current is not None and (current[0], current[1]) > stamp:
        stamp = (current[0], current[1])
    registers[field] = [stamp[0], stamp[1], value]


def _dunning(state: AccountState, event: BillingEvent, ts: int) -> bool:
    invoice = event.invoice_id
    if invoice is None:
        return False
    if event.subscription_status in PAYMENT_TROUBLE:
        failures = state.payments.setdefault(invoice, [-1])
        if ts not in failures[1:]:
            failures.append(ts)
        return True
    if event.subscription_status in _IN_GOOD_STANDING and invoice in state.payments:
        record = state.payments[invoice]
        record[0] = max(record[0], ts)
        return True
    return False
