"""The plain data the evaluation computes on: alerts, per-account outcomes, distributions.

Pure computation in this package takes these, never files or Kafka, so every number
in the report can be checked by hand on a few accounts.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from topics.models import Trigger

DAY = timedelta(days=1)

LEAD_TIME_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("<1d", 0, 1),
    ("1-7d", 1, 7),
    ("7-14d", 7, 14),
    ("14-30d", 14, 30),
    ("30-60d", 30, 60),
    (">=60d", 60, float("inf")),
)


@dataclass(frozen=True)
class Alert:
    """Something that would page a CSM: a Pulse trigger or a baseline rule's alert."""

    account_id: str
    rule_id: str
    kind: str
    fired_at: datetime

    @classmethod
    def of(cls, trigger: Trigger) -> Alert:
        return cls(trigger.account_id, trigger.rule_id, trigger.kind, trigger.fired_at)


@dataclass(frozen=True)
class Outcome:
    """What happened to one account over the period it was observed.

    ``cancelled_at`` is when the account decided to leave: the notice of a scheduled
    cancellation, or the cancellation itself when none was scheduled. ``ended_at`` is
    when the subscription stopped (None while a scheduled cancellation is still ahead).
    """

    observed_from: datetime | None
    observed_until: datetime | None
    """From the account's first event to its cancellation or the end of the data."""
    cancelled_at: datetime | None = None
    ended_at: datetime | None = None
    trial: bool = False
    """The subscription was a trial when it cancelled: a trial lapse, not paid churn."""
    lapses: tuple[tuple[datetime, datetime], ...] = ()
    """Cancellations later reversed: (subscription ended, reactivated)."""
    withdrawn_notices: tuple[tuple[datetime, datetime], ...] = ()
    """Scheduled cancellations later withdrawn: (notice, withdrawal)."""
    expansions: tuple[datetime, ...] = ()
    persona: str | None = None
    csm_owner: str | None = None

    @property
    def churned(self) -> bool:
        """Paid churn: cancelled, and not a trial that lapsed."""
        return self.cancelled_at is not None and not self.trial

    @property
    def trial_lapse(self) -> bool:
        return self.cancelled_at is not None and self.trial

    @property
    def observed_days(self) -> float:
        if self.observed_from is None or self.observed_until is None:
            return 0.0
        return max(0.0, days(self.observed_from, self.observed_until))

    def under_notice(self, at: datetime) -> bool:
        """The account had told it would leave at ``at``: a pending notice, or one it
        later withdrew. An alert then repeats what the customer said; it is no forecast."""
        if self.cancelled_at is not None and at >= self.cancelled_at:
            return True
        return any(notice <= at <= withdrawn for notice, withdrawn in self.withdrawn_notices)

    def cancelled_by(self, at: datetime) -> bool:
        """The subscription had ended at ``at`` (for good, or during a later reversed lapse)."""
        if self.ended_at is not None and at >= self.ended_at:
            return True
        return any(ended <= at < back for ended, back in self.lapses)


@dataclass(frozen=True)
class Distribution:
    count: int
    minimum: float
    q1: float
    median: float
    q3: float
    maximum: float
    histogram: dict[str, int]


def distribution(values: list[float]) -> Distribution | None:
    """Quartiles (inclusive method), extremes and lead-time buckets; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        q1 = median = q3 = ordered[0]
    else:
        q1, median, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    histogram = {
        label: sum(1 for v in ordered if low <= v < high) for label, low, high in LEAD_TIME_BUCKETS
    }
    return Distribution(len(ordered), ordered[0], q1, median, q3, ordered[-1], histogram)


def days(earlier: datetime, later: datetime) -> float:
    return (later - earlier) / DAY


def ratio(part: float, whole: float) -> float | None:
    """part / whole, or None when there is nothing to divide by."""
    return part / whole if whole else None


@dataclass(frozen=True)
class EvaluationSettings:
    """The windows every definition uses (docs/evaluation.md), and the team's size."""

    horizon_days: float = 120.0
    """A cancellation counts as caught when an alert came within this many days before it."""
    min_lead_days: float = 30.0
    """Lead a CSM needs to act: recall is also reported counting only alerts this early."""
    warmup_days: float = 28.0
    """History any rule needs before it can judge an account. A churn that came sooner than
    warmup + min lead after the account's first event cannot be caught that far ahead by
    any rule, so recall ahead is also reported over the churn watched at least that long."""
    quarter_days: float = 90.0
    expansion_days: float = 90.0
    """An expansion trigger is right when the account expands within this many days."""
    advocacy_cancel_days: float = 90.0
    advocacy_churn_alert_days: float = 30.0
    csms: int | None = None
    """CSMs sharing the alerts; None: count the distinct CSM owners."""

    @property
    def horizon(self) -> timedelta:
        return timedelta(days=self.horizon_days)
