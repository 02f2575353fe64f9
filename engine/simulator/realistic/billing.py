"""One account's subscription as its billing system sees it, and the billing events it sends.

At each period end a paid subscription renews as Stripe renews it: a
``subscription_updated`` moving the renewal date to the next period end
(monthly: every month; annual: every year), then about an hour later the
renewal invoice, paid or failed. Every subscription event carries its billing
interval; a scheduled cancellation carries ``cancel_scheduled`` and
``cancel_at`` until it takes effect or is withdrawn. A mid-term purchase is a
``subscription_updated`` with the new plan or seats and a prorated invoice.
Annual accounts enter their renewal season (lifecycle stage ``renewal``) 90
days before the renewal and leave it when they renew.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

from engine.simulator.activity import Draft
from engine.simulator.product import Plan
from engine.simulator.realistic.accounts import Customer
from engine.simulator.realistic.contract import (
    INTERVALS,
    Contract,
    first_period_end,
    midnight,
    next_period_end,
    safe_anniversary,
)
from engine.simulator.realistic.script import Script
from engine.simulator.shapes import Message, Shapes, Term
from topics.catalogue import TopicKind

DraftMaker = Callable[[TopicKind, Message, datetime], Draft]


class Billing:
    """Plan, seats, contract and period end as they change; renders the account's billing."""

    def __init__(
        self, account: Customer, script: Script, shapes: Shapes, draft: DraftMaker
    ) -> None:
        self.account = account
        self.script = script
        self.shapes = shapes
        self._draft = draft
        self._rng = account.rng("billing")
        self.plan: Plan = account.plan
        self.seats = account.seats
        self.contract: Contract | None = None if account.is_trial else account.contract
        self.period_end: date = account.renewal_date
        self.cancel_at: datetime | None = script.scheduled_at_start

    @property
    def mrr(self) -> float:
        return float(self.plan.seat_price * self.seats)

    def _term(self, **changes: Any) -> Term:
        scheduled = self.cancel_at is not None
        fields: dict[str, Any] = {
            "interval": INTERVALS[self.contract or "monthly"],
            "cancel_at": self.cancel_at,
            "cancel_scheduled": True if scheduled else None,
            "at_period_end": self.account.cancel_at_period_end,
        }
        return Term(**(fields | changes))

    def _subscription(self, at: datetime, action: str, term: Term) -> Draft:
        renewal = None if action == "subscription_cancelled" else self.period_end
        message = self.shapes.subscription(
            at, action, renewal, self.seats, plan=self.plan, term=term
        )
        return self._draft(TopicKind.BILLING, message, at)

    def _invoice(
        self, at: datetime, action: str, invoice: date, amount: float, **extra: Any
    ) -> Draft:
        invoice_id = f"in_{self.account.account_id.replace('-', '')}_{invoice:%Y%m%d}"
        message = self.shapes.invoice(
            at, action, invoice_id + extra.pop("suffix", ""), amount, **extra
        )
        return self._draft(TopicKind.BILLING, message, at)

    def _profile(self, at: datetime, stage: str) -> Draft:
        return self._draft(TopicKind.ACCOUNTS, self.shapes.profile(at, lifecycle_stage=stage), at)

    # -- the calendar ---------------------------------------------------------------------

    def opening(self, at: datetime) -> Iterator[Draft]:
        """The subscription when the account enters the stream: a trial starts, or a snapshot."""
        if self.account.is_trial:
            trial_end = getattr(self.script, "trial_end_at", None)
            term = self._term(status="trialing", trial_end=trial_end)
            yield self._subscription(at, "subscription_started", term)
        elif self.account.snapshot:
            yield self._subscription(at, "subscription_updated", self._term())

    def renewal(self, today: date) -> Iterator[Draft]:
        """At a period end: the subscription moves on a period and the renewal invoice follows."""
        if self.contract is None or today != self.period_end:
            return
        contract = self.contract
        self.period_end = next_period_end(today, contract)
        at = midnight(today) + timedelta(seconds=self._rng.randint(2, 120))
        yield self._subscription(at, "subscription_updated", self._term())
        failed = today in self.script.failed_renewals
        amount = self.mrr * (12 if contract == "annual" else 1)
        at += timedelta(minutes=self._rng.randint(55, 75))
        action = "payment_failed" if failed else "invoice_paid"
        yield self._invoice(at, action, today, amount, reason="subscription_cycle")
        if contract == "annual":
            yield self._profile(at + timedelta(seconds=5), "adopted")

    def season(self, today: date, at: Callable[[], datetime]) -> Iterator[Draft]:
        """An annual contract's renewal season begins 90 days before its renewal."""
        if self.contract == "annual" and today == self.period_end - timedelta(days=90):
            yield self._profile(at(), "renewal")

    def lifecycle_stage(self, today: date) -> str:
        if self.account.is_trial:
            return "trial"
        if self.contract == "annual" and (self.period_end - today).days <= 90:
            return "renewal"
        return "adopted"

    # -- episodes -------------------------------------------------------------------------

    def milestone(
        self, kind: str, detail: dict[str, Any], at: Callable[[], datetime]
    ) -> Iterator[Draft]:
        """Billing milestones of the script; other kinds yield nothing."""
        if kind == "cancel":
            self.cancel_at = None
            yield self._subscription(detail["at"], "subscription_cancelled", Term(self._interval()))
        elif kind == "schedule_cancel":
            self.cancel_at = detail["cancel_at"]
            yield self._subscription(at(), "subscription_updated", self._term())
        elif kind == "withdraw_cancel":
            self.cancel_at = None
            yield self._subscription(
                at(), "subscription_updated", self._term(cancel_scheduled=False)
            )
        elif kind in ("payment_failed", "payment_recovered"):
            amount = self.mrr * (12 if self.contract == "annual" else 1)
            attempt = detail.get("attempt", 2)
            yield self._invoice(at(), kind, detail["invoice"], amount, attempt=attempt)
        elif kind == "purchase":
            yield from self._purchase(detail)
        elif kind == "convert":
            yield from self._convert(detail)

    def _interval(self) -> str:
        return INTERVALS[self.contract or "monthly"]

    def _purchase(self, detail: dict[str, Any]) -> Iterator[Draft]:
        """More seats or a higher plan mid-term, and the invoice prorated over the rest of it."""
        at: datetime = detail["at"]
        before = self.mrr
        self.plan, self.seats = detail["plan"], detail["seats"]
        yield self._subscription(at, "subscription_updated", self._term())
        months = (self.period_end - at.date()).days / 30.4
        prorated = round(max(0.0, self.mrr - before) * months, 2)
        at += timedelta(seconds=self._rng.randint(5, 60))
        yield self._invoice(
            at, "invoice_paid", at.date(), prorated, reason="subscription_update", suffix="u"
        )

    def _convert(self, detail: dict[str, Any]) -> Iterator[Draft]:
        """A trial becomes a paid subscription at its end."""
        at: datetime = detail["at"]
        contract: Contract = detail["contract"]
        self.plan, self.seats, self.contract = detail["plan"], detail["seats"], contract
        ends = at.date()
        if contract == "annual":
            self.period_end = safe_anniversary(ends).replace(year=ends.year + 1)
        else:
            self.period_end = first_period_end(ends, min(ends.day, 28))
        yield self._subscription(at, "subscription_updated", self._term())
        at += timedelta(minutes=self._rng.randint(1, 5))
        amount = self.mrr * (12 if contract == "annual" else 1)
        yield self._invoice(at, "invoice_paid", ends, amount, reason="subscription_cycle")
        yield self._profile(at + timedelta(seconds=5), "onboarding")
