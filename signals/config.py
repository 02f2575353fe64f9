"""Frozen configuration of the signals core, with every default from the domain spec.

Every threshold, weight and window is a setting; the defaults are what a user
gets without configuring anything (see ``shared/design/signals.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from signals.errors import ConfigError
from signals.holidays import parse_holiday
from signals.peers import PeersConfig

ComponentName = Literal["product_usage", "engagement", "support", "relationship", "financial"]
Severity = Literal["low", "medium", "high", "critical"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class UsageMapping(_Frozen):
    """Which product event names (or property values) mean what; Segment B2B SaaS by default."""

    login_events: frozenset[str] = frozenset({"Signed In", "Session Started", "Logged In"})
    seat_added_events: frozenset[str] = frozenset({"Account Added User"})
    seat_removed_events: frozenset[str] = frozenset({"Account Removed User"})
    trial_started_events: frozenset[str] = frozenset({"Trial Started"})
    trial_ended_events: frozenset[str] = frozenset({"Trial Ended"})
    invite_sent_events: frozenset[str] = frozenset({"Invite Sent"})
    core_features: tuple[str, ...] = ()
    """Core features of the product; adoption is measured against this list."""
    feature_event: str = "Feature Used"
    """An event with this name names its feature in ``feature_property``."""
    feature_property: str = "feature"
    premium_attempt_events: frozenset[str] = frozenset(
        {"Premium Feature Attempted", "Upgrade Wall Hit"}
    )
    premium_features: frozenset[str] = frozenset()
    """Feature names (by event name or ``feature_property``) that sit behind an upgrade wall."""
    api_call_event: str = "API Calls"
    api_call_count_property: str = "count"
    """Calls represented by one event; an event without it counts as one call."""
    data_volume_event: str = "Data Volume Reported"
    data_volume_property: str = "gb"
    """Data stored, in GB: a gauge, so a day keeps its highest reading."""
    referral_events: frozenset[str] = frozenset({"Referral Sent"})
    community_events: frozenset[str] = frozenset(
        {"Community Post Created", "Community Answer Posted"}
    )
    training_events: frozenset[str] = frozenset({"Training Completed"})
    business_review_events: frozenset[str] = frozenset({"Business Review Attended"})

    @model_validator(mode="after")
    def _core_features_unique(self) -> UsageMapping:
        if len(set(self.core_features)) != len(self.core_features):
            raise ValueError("core_features lists a feature twice")
        return self


class MetricScale(_Frozen):
    """A metric scored piecewise-linearly: 0 at ``red``, 1 at ``green`` (either may be higher)."""

    metric: str
    red: float
    green: float

    @model_validator(mode="after")
    def _distinct(self) -> MetricScale:
        if self.red == self.green:
            msg = f"red and green thresholds of {self.metric} are both {self.red}"
            raise ValueError(msg)
        return self


class HealthComponent(_Frozen):
    weight: float = Field(ge=0)
    metrics: tuple[MetricScale, ...] = Field(min_length=1)


def _default_severity_weights() -> dict[Severity, float]:
    return {"low": 1.0, "medium": 2.0, "high": 3.0, "critical": 4.0}


def _default_components() -> dict[ComponentName, HealthComponent]:
    def scales(*items: tuple[str, float, float]) -> tuple[MetricScale, ...]:
        return tuple(MetricScale(metric=m, red=r, green=g) for m, r, g in items)

    return {
        "product_usage": HealthComponent(
            weight=40,
            # Relative first: against the account's own baseline, in units of the spread
            # use really has (a 3-seat account's quiet week is not a crisis, nor is a
            # 10% dip of a 500-seat one), then a share of seats scaled for B2B, where
            # 15-40% of seats active on a day is normal.
            metrics=scales(
                ("usage_change_z", -3.0, -0.5),
                ("dau_share_of_seats", 0.03, 0.2),
                ("feature_adoption_28d", 0.1, 0.5),
            ),
        ),
        "engagement": HealthComponent(
            weight=25,
            metrics=scales(("business_reviews_attended", 0, 1), ("trainings_completed", 0, 1)),
        ),
        "support": HealthComponent(
            weight=15,
            metrics=scales(
                ("ticket_trend", 2.0, 1.0),
                ("tickets_open_high_urgent", 3, 0),
                ("csat_avg_90d", 2.5, 4.0),
            ),
        ),
        "relationship": HealthComponent(
            weight=15,
            metrics=scales(("executive_sponsor", 0, 1), ("nps_avg_score_90d", 6, 9)),
        ),
        "financial": HealthComponent(
            weight=5,
            metrics=scales(("failed_payments_unresolved", 1, 0), ("days_past_due", 30, 0)),
        ),
    }


class HealthConfig(_Frozen):
    """The default five-component model: weights 40/25/15/15/5, bands 80/50."""

    components: dict[ComponentName, HealthComponent] = Field(default_factory=_default_components)
    green_from: float = Field(default=80, ge=0, le=100)
    yellow_from: float = Field(default=50, ge=0, le=100)
    history_days: int = Field(default=60, ge=31)
    """Days of daily scores kept: the 7- and 30-day trends and 8 weeks of "green for"."""
    min_components: int = Field(default=3, ge=1, le=5)
    """Fewer scored components than this make a score provisional: rules never act on it."""
    min_history_days: int = Field(default=14, ge=0)
    """A score of an account observed for fewer days than this is provisional."""

    @model_validator(mode="after")
    def _bands_and_weights(self) -> HealthConfig:
        if self.yellow_from >= self.green_from:
            raise ValueError("yellow_from must be below green_from")
        if self.components and sum(c.weight for c in self.components.values()) <= 0:
            raise ValueError("component weights sum to zero")
        return self


class MetricWindows(_Frozen):
    """Windows of the rolling metrics whose length the spec fixes only by default."""

    csat_days: int = Field(default=90, ge=1)
    nps_days: int = Field(default=90, ge=1)
    ticket_trend_floor_per_week: float = Field(default=1.0, gt=0)
    """Floor of the prior weekly average, so a first ticket is not an infinite spike."""


class LifecycleConfig(_Frozen):
    """Judging accounts by where they are in their life, and talking to a CSM once."""

    default_trial_days: int = Field(default=14, ge=1)
    """Trial length when the subscription does not say when the trial ends."""
    min_observed_days: int = Field(default=1, ge=0)
    """No rule fires before the account has been observed this many whole days: an
    account's first day of data (often history that began before the stream) is never news."""
    churn_episode: timedelta = timedelta(days=30)
    """One conversation per account: while a churn-risk trigger fired within this span,
    another churn-risk rule joins that episode silently unless its severity is higher.
    Advocacy waits as long after a churn-risk trigger. 0 turns this off."""
    expansion_episode: timedelta = timedelta(days=30)
    """One expansion conversation per account: once an expansion trigger was sent,
    another expansion reason within this span joins it without being sent, unless its
    severity is higher. An account at its tier limit, its API limit and knocking on
    premium features in one week is one upgrade conversation. 0 turns this off."""
    advocacy_ask: timedelta = timedelta(days=90)
    """One ask per account: once an advocacy trigger was sent, another within this span
    (of any advocacy rule) joins it without being sent, unless its severity is higher
    (as a churn-risk conversation's). An advocate asked for a testimonial in March and a
    reference in April is asked too often. 0 turns this off."""
    holidays: tuple[str, ...] = ("12-24..01-01",)
    """Days a whole book falls quiet, every year (``MM-DD..MM-DD``, may wrap the year
    end): ``silent_days`` does not count them, so a team silent across the year-end
    break is not "gone quiet" (``signals.holidays``). ``[]`` counts every day."""
    alert_horizon: timedelta = timedelta(days=120)
    """A cancellation's record lists the churn-risk alerts of this long before the
    subscription ended (``signals.cancellations``). ``pulse evaluate``'s horizon is 120
    days too, but it counts back from the notice when the account gave one."""

    @field_validator("holidays")
    @classmethod
    def _holidays_are_ranges(cls, holidays: tuple[str, ...]) -> tuple[str, ...]:
        for text in holidays:
            parse_holiday(text)  # a ValueError says which and why
        return holidays


class PriorityConfig(_Frozen):
    """priority = severity weight x account value factor (1 + log10(1 + annual value / ref))."""

    severity_weights: dict[Severity, float] = Field(default_factory=_default_severity_weights)
    reference_annual_value: float = Field(default=10_000.0, gt=0)


class SignalsConfig(_Frozen):
    """Everything the pure core needs; build it with :func:`load_config` for named errors."""

    usage: UsageMapping = Field(default_factory=UsageMapping)
    health: HealthConfig = Field(default_factory=HealthConfig)
    windows: MetricWindows = Field(default_factory=MetricWindows)
    priority: PriorityConfig = Field(default_factory=PriorityConfig)
    lifecycle: LifecycleConfig = Field(default_factory=LifecycleConfig)
    peers: PeersConfig = Field(default_factory=PeersConfig)
    """A frozen peer table (``pulse peers``); empty: no peer percentiles."""
    retention: timedelta = timedelta(days=120)
    """Horizon of the daily buckets: long enough for the longest rule."""
    lateness_bound: timedelta = timedelta(days=7)
    """Events older than now minus this are rejected as late."""
    reorder_window: timedelta = timedelta(0)
    """Events are held this long and released in event-time order."""
    dedup_capacity: int = Field(default=100_000, ge=1)
    """Most event ids remembered per account within the lateness bound."""
    tick_every: timedelta = timedelta(days=1)
    """Event-time clock tick for absence and calendar rules (gone quiet, renewal windows).

    Ticks fall on multiples of this since the Unix epoch, in replays and workers alike,
    so both evaluate the same rules at the same instants and give the same trigger ids.
    """
    fired_log_size: int = Field(default=64, ge=0)
    """Fired triggers kept per account to revise them when late data changes the result."""

    @model_validator(mode="after")
    def _time_bounds(self) -> SignalsConfig:
        if self.lateness_bound < timedelta(0) or self.reorder_window < timedelta(0):
            raise ValueError("lateness_bound and reorder_window must not be negative")
        if self.tick_every < timedelta(minutes=1):
            raise ValueError("tick_every must be at least one minute")
        if self.reorder_window > self.lateness_bound:
            raise ValueError("reorder_window must not exceed lateness_bound")
        if self.retention < max(self.lateness_bound, timedelta(days=35)):
            raise ValueError("retention must cover the lateness bound and 35 days of metrics")
        return self

    @property
    def retention_days(self) -> int:
        return self.retention.days


def load_config(data: Mapping[str, Any] | None = None) -> SignalsConfig:
    """Validate a mapping (e.g. parsed YAML); a bad value raises ConfigError naming the setting."""
    try:
        return SignalsConfig.model_validate(dict(data or {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        setting = ".".join(str(part) for part in first["loc"]) or "config"
        raise ConfigError(setting, first["msg"]) from exc
