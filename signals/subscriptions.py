"""An account's several subscriptions: each remembered latest-wins, the account's MRR,
seats and status their aggregate.

Each subscription is one billing register, ``sub:<id>`` -> [status, mrr, seats],
so the state format is unchanged (older states simply have none). The account
is cancelled only when every subscription it has shown is; a paused
subscription earns nothing; MRR is unknown when a live subscription's is.
Dunning statuses (``past_due``, ``unpaid``, ``incomplete``) mark the
subscription's latest invoice unpaid; ``active`` or ``trialing`` resolves it.
"""

from __future__ import annotations

from typing import Any, Final

from signals.state import AccountState, Stamped, lww
from topics.models import BillingEvent

__all__ = ["PAYMENT_TROUBLE", "fold_subscription"]

PREFIX: Final = "sub:"
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
    _aggregate(state)
    return _dunning(state, event, ts)


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
