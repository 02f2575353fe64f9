"""Outcomes per account, read from the billing stream itself (or from a simulator's truth).

Decisions, each a line of docs/evaluation.md:

- Cancellation is a ``subscription_cancelled`` event of the account's last live
  subscription (``engine.evaluation.notices``: an add-on ending beside the main plan is
  no churn). When a cancellation was scheduled first (``cancel_scheduled`` or
  ``cancel_at``, on every live subscription), the account decided to leave at that
  notice, so that is its cancellation time; a notice still pending when the data ends
  counts as churn, with a truth file too (its period cannot see a cancellation taking
  effect after it). A withdrawn notice (``cancel_scheduled: false``) is forgotten.
- The last state counts: a later ``subscription_started``, or a ``subscription_updated``
  with MRR above 0, reactivates the account, which is then retained; the lapse is kept
  so that alerts during it still count as alerts after cancellation.
- A trial lapse is a cancelled subscription that was a trial: with the billing system's
  trial dates (Stripe's ``trial_end``), every subscription live at the end was in a
  trial it never paid for (``engine.evaluation.trials``); without them, plan "Trial" or
  MRR 0 on the cancellation or the latest subscription event, or a ``Trial Started``
  usage event with no paid invoice since. Trial lapses are reported apart from paid
  churn.
- An expansion is a ``subscription_updated`` of a paid subscription that raises seats
  purchased, or MRR, above that subscription's previous known value, or, for the account's first
  subscription event, above the seats the update says it had (``seats_before``,
  Stripe's ``previous_attributes``); a trial converting is not one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from engine.evaluation.history import TRIAL_STARTED, AccountHistory, EventHistory
from engine.evaluation.model import Outcome
from engine.evaluation.notices import Subscriptions
from engine.evaluation.trials import BilledTrials
from topics.models import AccountProfile, BillingEvent, UsageEvent


@dataclass(frozen=True)
class TruthAccount:
    persona: str
    plan: str | None
    cancelled_at: datetime | None


@dataclass(frozen=True)
class Truth:
    """A simulator's ground truth: every account's persona and cancellation, and the period."""

    accounts: Mapping[str, TruthAccount]
    start: datetime | None = None
    end: datetime | None = None


def outcomes_from_events(history: EventHistory) -> dict[str, Outcome]:
    """Each account's outcome from its own events; the data ends at the last event of all."""
    return {
        account: _Subscription().outcome(events, history.last_event)
        for account, events in history.accounts.items()
    }


def with_truth(
    outcomes: Mapping[str, Outcome], truth: Truth, data_end: datetime | None = None
) -> dict[str, Outcome]:
    """The truth's accounts, personas and cancellations over what the events say.

    An account the truth calls retained is retained, unless the events end with its
    notice still pending: a truth that records cancellations within its period cannot
    see one taking effect after it, and the account decided at its notice, as it does
    without a truth. For one it says cancelled, the events' notice of that cancellation,
    when they saw one, stays its cancellation time (the account decided then) and the
    truth's time is when it ended. Spans, expansions and CSM owners still come from the
    events; an account they never mention is observed over the truth's period. The data
    ends at ``data_end`` (the events' last) or else at the end of the truth's period.
    """
    end_of_data = data_end or truth.end
    merged: dict[str, Outcome] = {}
    for account, facts in truth.accounts.items():
        base = outcomes.get(account) or Outcome(observed_from=None, observed_until=None)
        ended = facts.cancelled_at
        noticed = base.cancelled_at
        if ended is None:
            pending = noticed is not None and base.ended_at is None
            decided = noticed if pending else None
        else:
            decided = noticed if noticed and noticed <= ended else ended
        trial = facts.plan.strip().lower() == "trial" if facts.plan is not None else base.trial
        merged[account] = replace(
            base,
            observed_from=base.observed_from or truth.start,
            observed_until=ended or end_of_data,
            cancelled_at=decided,
            ended_at=ended,
            trial=trial,
            lapses=(),
            persona=facts.persona,
        )
    return merged


def disagreements(from_events: Mapping[str, Outcome], truth: Truth) -> tuple[int, int]:
    """(accounts the truth and the events disagree on, cancellations either names).

    They disagree on an account one calls cancelled and the other not, or both do more
    than a day apart (the truth's time is the end; a notice still pending when the data
    ends is no disagreement). Many disagreements say the truth is of another population."""
    slack = timedelta(days=1)
    differ = named = 0
    for account in truth.accounts.keys() | from_events.keys():
        facts, seen = truth.accounts.get(account), from_events.get(account)
        said = None if facts is None else facts.cancelled_at
        ended = None if seen is None else seen.ended_at
        pending = seen is not None and seen.cancelled_at is not None and ended is None
        if said is None and (ended is None or pending):
            continue
        named += 1
        differ += said is None or ended is None or abs(said - ended) > slack
    return differ, named


def _names_trial(event: BillingEvent) -> bool | None:
    """Whether a subscription event says trial (plan "Trial" or MRR 0); None: it doesn't
    say. Billing's own trial dates are ``BilledTrials``', and come first."""
    if event.plan is not None and event.plan.strip().lower() == "trial":
        return True
    if event.mrr is not None:
        return event.mrr == 0
    return False if event.plan is not None else None


@dataclass
class _Subscription:
    """One account's subscription, folded over its events in event-time order."""

    trial_plan: bool = False
    trial_usage: bool = False
    billed: BilledTrials = field(default_factory=BilledTrials)
    subscriptions: Subscriptions = field(default_factory=Subscriptions)
    seats: dict[str, int] = field(default_factory=dict)
    mrr: dict[str, float] = field(default_factory=dict)
    """Per subscription id ("" for events naming none): its latest seats and MRR."""
    notice_at: datetime | None = None
    cancel_at: datetime | None = None
    cancelled_at: datetime | None = None
    ended_at: datetime | None = None
    cancelled_trial: bool = False
    lapses: list[tuple[datetime, datetime]] = field(default_factory=list)
    withdrawn: list[tuple[datetime, datetime]] = field(default_factory=list)
    expansions: list[datetime] = field(default_factory=list)
    csm_owner: str | None = None

    def outcome(self, history: AccountHistory, data_end: datetime | None) -> Outcome:
        for event in history.events:
            if isinstance(event, AccountProfile) and event.csm_owner is not None:
                self.csm_owner = event.csm_owner
            elif isinstance(event, UsageEvent) and event.name == TRIAL_STARTED:
                self.trial_usage = True
            elif isinstance(event, BillingEvent):
                self._billing(event)
        if self.cancelled_at is None and self.notice_at is not None:  # notice still pending
            self.cancelled_at, self.cancelled_trial = self.notice_at, self.trial
            if self.cancel_at is not None and data_end is not None and self.cancel_at <= data_end:
                self.ended_at = self.cancel_at
        return Outcome(
            observed_from=history.first_at,
            observed_until=self.ended_at or data_end,
            cancelled_at=self.cancelled_at,
            ended_at=self.ended_at,
            trial=self.cancelled_trial if self.cancelled_at is not None else self.trial,
            lapses=tuple(self.lapses),
            withdrawn_notices=tuple(self.withdrawn),
            expansions=tuple(self.expansions),
            csm_owner=self.csm_owner,
        )

    @property
    def trial(self) -> bool:
        billed = self.billed.verdict()
        return billed if billed is not None else self.trial_plan or self.trial_usage

    def _billing(self, event: BillingEvent) -> None:
        at = event.occurred_at
        if event.action == "invoice_paid" and (event.amount or 0) > 0:
            self.trial_usage = False
        elif event.action == "subscription_cancelled":
            if self.ended_at is None:
                self.billed.add(event)
                if not self.subscriptions.ended(event):  # another subscription goes on
                    self._notice(at)
                    return
                says = _names_trial(event)
                billed = self.billed.verdict()
                if billed is not None:
                    self.cancelled_trial = billed
                else:
                    self.cancelled_trial = self.trial if says is None else says or self.trial_usage
                self.cancelled_at, self.ended_at = self.notice_at or at, at
                self.notice_at = self.cancel_at = None
        elif event.action in ("subscription_started", "subscription_updated"):
            if self.ended_at is not None:
                reactivates = event.action == "subscription_started" or (event.mrr or 0) > 0
                if not reactivates or at <= self.ended_at:
                    return
                self.lapses.append((self.ended_at, at))
                self.cancelled_at = self.ended_at = None
                self.seats, self.mrr = {}, {}
                self.subscriptions.reset()
            self._subscription(event)

    def _notice(self, at: datetime) -> None:
        """The account's notice after a subscription's change: standing while every live
        subscription is set to cancel, withdrawn once one is not."""
        standing, ends = self.subscriptions.notice()
        if standing:
            self.notice_at = self.notice_at or at
            self.cancel_at = ends or self.cancel_at
        elif self.notice_at is not None:
            self.withdrawn.append((self.notice_at, at))
            self.notice_at = self.cancel_at = None

    def _subscription(self, event: BillingEvent) -> None:
        self.subscriptions.changed(event)
        self._notice(event.occurred_at)
        key = event.subscription_id or ""
        trial_before = self.trial
        self.billed.add(event)
        says = _names_trial(event)
        trial_after = self.trial_plan if says is None else says
        billed_after = self.billed.verdict()
        if billed_after is not None:
            trial_after = billed_after
        paid_before_and_after = not trial_before and not trial_after
        if event.action == "subscription_updated" and paid_before_and_after:
            before = event.seats_before
            seats = before if before is not None else self.seats.get(key)
            more_seats = seats is not None and (event.seats_purchased or 0) > seats
            mrr = self.mrr.get(key)
            more_mrr = bool(mrr) and (event.mrr or 0) > (mrr or 0)
            if more_seats or more_mrr:
                self.expansions.append(event.occurred_at)
        self.trial_plan = self.trial_plan if says is None else says
        if event.seats_purchased is not None:
            self.seats[key] = event.seats_purchased
        if event.mrr is not None:
            self.mrr[key] = event.mrr
