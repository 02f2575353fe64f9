"""How good a set of churn-risk alerts is: recall and lead, against chance, precision and volume.

The same computation scores Pulse's triggers and the baseline's alerts, so the two sit
side by side. Trial lapses are left out of every number here but their own count: paid
churn is what a CS team is judged on.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.evaluation.model import (
    Alert,
    Distribution,
    EvaluationSettings,
    Outcome,
    days,
    distribution,
    ratio,
)


@dataclass(frozen=True)
class Population:
    """The accounts the numbers are about, and how long they were watched."""

    accounts: int
    """Accounts, trial lapses excluded."""
    churned: int
    retained: int
    trial_lapses: int
    reactivated: int
    """Retained accounts that cancelled and came back (their lapses are not churn)."""
    account_days: float
    """Days observed, summed over the accounts: each from its first event to its
    cancellation or the end of the data."""
    period_start: datetime | None
    period_end: datetime | None
    csms: int | None

    @property
    def period_days(self) -> float:
        if self.period_start is None or self.period_end is None:
            return 0.0
        return days(self.period_start, self.period_end)

    @property
    def base_rate(self) -> float | None:
        return ratio(self.churned, self.accounts)


def population(outcomes: Mapping[str, Outcome], csms: int | None) -> Population:
    paid = [o for o in outcomes.values() if not o.trial_lapse]
    starts = [o.observed_from for o in paid if o.observed_from is not None]
    ends = [o.observed_until for o in paid if o.observed_until is not None]
    return Population(
        accounts=len(paid),
        churned=sum(1 for o in paid if o.churned),
        retained=sum(1 for o in paid if not o.churned),
        trial_lapses=len(outcomes) - len(paid),
        reactivated=sum(1 for o in paid if o.lapses and o.cancelled_at is None),
        account_days=math.fsum(o.observed_days for o in paid),
        period_start=min(starts, default=None),
        period_end=max(ends, default=None),
        csms=csms,
    )


@dataclass(frozen=True)
class ChurnQuality:
    alerts: int
    """Churn-risk alerts on the accounts, all of them (after cancellation too)."""
    alerted_accounts: int
    """Accounts with an alert while still a customer."""
    caught: int
    """Churned accounts with an alert in the horizon before they cancelled."""
    recall: float | None
    caught_ahead: int
    """Churned accounts with an alert in the horizon and at least the minimum lead ahead."""
    recall_ahead: float | None
    watchable_ahead: int
    """Churned accounts watched for at least warmup + min lead days before they cancelled:
    the ones any rule could have caught that far ahead."""
    caught_ahead_watchable: int
    recall_ahead_watchable: float | None
    lead_time_days: Distribution | None
    """From each caught account's first alert in the horizon to its cancellation."""
    alerted_before_end: int
    """Churned accounts alerted while still customers, from the horizon before they
    decided to leave until their subscription ended: the save window. Unlike ``caught``,
    an alert after a notice of cancellation counts here, since the account still pays
    until its period ends, so every caught account is in it."""
    recall_before_end: float | None
    alerted_before_end_ahead: int
    """The same, alerted at least the minimum lead before the subscription ended."""
    recall_before_end_ahead: float | None
    days_left_to_act: Distribution | None
    """From each such account's first alert in the horizon to its subscription's end."""
    chance_period: float | None
    """Retained accounts alerted at any time: the recall a rule firing at random gets."""
    chance_quarter: float | None
    chance_horizon: float | None
    chance_ahead: float | None
    """Retained accounts alerted in the horizon but at least the minimum lead before their
    observation ended: what ``recall_ahead`` a rule firing at random gets."""
    precision_by_account: float | None
    precision_by_alert: float | None
    lift: float | None
    alerts_per_100_accounts_30d: float | None
    alerts_per_csm_week: float | None
    trial_lapses_caught: int


def churn_quality(
    alerts: Iterable[Alert],
    outcomes: Mapping[str, Outcome],
    people: Population,
    settings: EvaluationSettings,
) -> ChurnQuality:
    """Score churn-risk alerts on the accounts in ``outcomes`` (others are ignored)."""
    times: dict[str, list[datetime]] = defaultdict(list)
    for alert in alerts:
        if alert.kind == "churn_risk" and alert.account_id in outcomes:
            times[alert.account_id].append(alert.fired_at)
    for fired in times.values():
        fired.sort()
    horizon, lead = settings.horizon, timedelta(days=settings.min_lead_days)
    caught = ahead = alerted = trial_caught = alerts_on_paid = 0
    watchable = ahead_watchable = 0
    reach = timedelta(days=settings.warmup_days) + lead
    by_alert_hits = by_alert_total = 0
    leads: list[float] = []
    save = _SaveWindow(horizon, lead)
    retained: list[tuple[Outcome, list[datetime]]] = []
    for account, outcome in outcomes.items():
        every = times.get(account, [])
        # Alerts while a notice the account later withdrew stood repeat what it said: no
        # forecast, as after a notice that held (neither a catch nor a false alarm).
        fired = (
            [t for t in every if not outcome.under_notice(t)]
            if outcome.withdrawn_notices
            else every
        )
        cancelled = outcome.cancelled_at
        if cancelled is None:
            alerts_on_paid += len(every)
            alerted += bool(fired)
            by_alert_total += len(fired)
            retained.append((outcome, fired))
            continue
        if outcome.lapses:  # an alert while it had left before is an error, not a catch
            fired = [t for t in fired if not outcome.cancelled_by(t)]
        window = [t for t in fired if cancelled - horizon <= t < cancelled]
        if outcome.trial:
            trial_caught += bool(window)
            continue
        alerts_on_paid += len(every)
        save.add(outcome, every)
        before = [t for t in fired if t < cancelled]
        alerted += bool(before)
        by_alert_total += len(before)
        by_alert_hits += len(window)
        early = bool(window) and window[0] <= cancelled - lead
        started = outcome.observed_from
        if started is not None and cancelled - started >= reach:
            watchable += 1
            ahead_watchable += early
        if window:
            caught += 1
            ahead += early
            leads.append(days(window[0], cancelled))
    precision = ratio(caught, alerted)
    base_rate = people.base_rate
    weeks = people.period_days / 7
    return ChurnQuality(
        alerts=alerts_on_paid,
        alerted_accounts=alerted,
        caught=caught,
        recall=ratio(caught, people.churned),
        caught_ahead=ahead,
        recall_ahead=ratio(ahead, people.churned),
        watchable_ahead=watchable,
        caught_ahead_watchable=ahead_watchable,
        recall_ahead_watchable=ratio(ahead_watchable, watchable),
        lead_time_days=distribution(leads),
        alerted_before_end=save.alerted,
        recall_before_end=ratio(save.alerted, people.churned),
        alerted_before_end_ahead=save.ahead,
        recall_before_end_ahead=ratio(save.ahead, people.churned),
        days_left_to_act=distribution(save.days_left),
        chance_period=ratio(sum(1 for _, fired in retained if fired), len(retained)),
        chance_quarter=_chance_in_window(retained, timedelta(days=settings.quarter_days)),
        chance_horizon=_chance_last(retained, horizon),
        chance_ahead=_chance_last(retained, horizon, lead),
        precision_by_account=precision,
        precision_by_alert=ratio(by_alert_hits, by_alert_total),
        lift=None if precision is None or not base_rate else precision / base_rate,
        alerts_per_100_accounts_30d=(
            alerts_on_paid / people.account_days * 100 * 30 if people.account_days else None
        ),
        alerts_per_csm_week=(
            alerts_on_paid / people.csms / weeks if people.csms and weeks else None
        ),
        trial_lapses_caught=trial_caught,
    )


class _SaveWindow:
    """Churned accounts alerted before their subscription ended: the save window, from
    the horizon before the account decided (its notice, or the cancellation) to the end.
    Every caught account is in it."""

    def __init__(self, horizon: timedelta, lead: timedelta) -> None:
        self.horizon, self.lead = horizon, lead
        self.alerted = self.ahead = 0
        self.days_left: list[float] = []

    def add(self, outcome: Outcome, fired: list[datetime]) -> None:
        """One churned account and its alerts, sorted. A notice still pending when the
        data ends is taken to end there: the days left to act are at least that many."""
        decided, end = outcome.cancelled_at, outcome.ended_at or outcome.observed_until
        if decided is None or end is None:
            return
        end = max(end, decided)
        window = [
            t for t in fired if decided - self.horizon <= t < end and not outcome.cancelled_by(t)
        ]
        if window:
            self.alerted += 1
            self.ahead += window[0] <= end - self.lead
            self.days_left.append(days(window[0], end))


def _chance_last(
    retained: list[tuple[Outcome, list[datetime]]],
    horizon: timedelta,
    lead: timedelta = timedelta(0),
) -> float | None:
    """Share of retained accounts alerted in the horizon before their observation ended,
    at least ``lead`` before it ended."""
    if any(o.observed_until is None for o, _ in retained):
        return None
    hits = 0
    for outcome, fired in retained:
        end = outcome.observed_until
        hits += end is not None and any(end - horizon <= t <= end - lead for t in fired)
    return ratio(hits, len(retained))


def _chance_in_window(
    retained: list[tuple[Outcome, list[datetime]]], window: timedelta
) -> float | None:
    """The chance a retained account is alerted within a window (a quarter) of its span.

    Averaged over every window position inside each account's observed span; an account
    watched for less than a window counts whether it was alerted at all.
    """
    shares: list[float] = []
    for outcome, fired in retained:
        start, end = outcome.observed_from, outcome.observed_until
        if start is None or end is None:
            return None
        shares.append(_covered_share(fired, start, end, window))
    return ratio(sum(shares), len(shares))


def _covered_share(
    fired: list[datetime], start: datetime, end: datetime, window: timedelta
) -> float:
    """Share of window starts s in [start, end - window] whose [s, s + window] holds an alert."""
    if not fired:
        return 0.0
    positions = end - window - start
    if positions <= timedelta(0):
        return 1.0
    covered = timedelta(0)
    reach: datetime | None = None
    for at in sorted(min(max(t, start), end) for t in fired):
        low, high = max(at - window, start), min(at, end - window)
        if high < low:
            continue
        if reach is not None and low < reach:
            low = reach
        if high > low:
            covered += high - low
        reach = max(reach or high, high)
    return covered / positions
