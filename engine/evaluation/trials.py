"""The billing system's own trials, as the evaluator reads them from billing events.

Independent of ``signals.trials`` on purpose (an evaluation that shared the engine's
reading could not catch it out), but the same decision: with Stripe's trial dates, an
account is in a trial, or lapsed from one, when every subscription live at the time
(or ending with it) was in a trial it never paid for; a subscription paid for once its
trial closed (turned ``active`` at or after ``trial_end``) is no trial, and a paid
subscription beside an add-on's trial makes the account no trial.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from topics.models import BillingEvent

_ENDING = timedelta(days=1)
"""Subscriptions ending this close to the account's end ended with it."""


@dataclass
class BilledTrials:
    trials: dict[str, tuple[datetime, bool]] = field(default_factory=dict)
    """Subscription id ("" for events naming none) -> (trial end, paid since)."""
    subscriptions: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    """Subscription id -> (latest status, when)."""

    def add(self, event: BillingEvent) -> None:
        """A subscription event (started, updated or cancelled), in event-time order."""
        key = event.subscription_id or ""
        ended = event.action == "subscription_cancelled"
        if event.subscription_id is not None:
            latest = "canceled" if ended else (event.subscription_status or "active")
            self.subscriptions[key] = (latest, event.occurred_at)
        known = self.trials.get(key)
        if event.trial_end is None and known is None:
            return
        end = event.trial_end if event.trial_end is not None else known[0]  # type: ignore[index]
        paid = known is not None and known[0] == end and known[1]
        status = event.subscription_status
        revenue = status is None and (event.mrr or 0) > 0
        if event.occurred_at >= end and not ended and (status == "active" or revenue):
            paid = True
        self.trials[key] = (end, paid)

    def verdict(self) -> bool | None:
        """In (or lapsed from) a trial never paid for; None when billing said nothing
        of trials."""
        if not self.trials:
            return None
        if not self.subscriptions:
            record = self.trials.get("")
            return None if record is None else not record[1]
        latest = max(at for _, at in self.subscriptions.values())
        relevant = [
            key
            for key, (status, at) in self.subscriptions.items()
            if status != "canceled" or at >= latest - _ENDING
        ]
        return all(key in self.trials and not self.trials[key][1] for key in relevant)
