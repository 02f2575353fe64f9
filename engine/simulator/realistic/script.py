"""The realistic base script: an ordinary account that stays, with the noise real accounts have.

A script is what happens to an account, drawn up front from its own random
stream: its users (see :mod:`roster`), daily rates (engagement, tickets,
premium attempts, API calls, data stored) and milestones on given days
(surveys, business reviews, trainings, billing episodes, a cancellation). The
archetypes in :mod:`retained`, :mod:`growth`, :mod:`churners` and
:mod:`trials` override what makes them different. Rendering into events is
:mod:`activity`'s job.

Ordinary noise, which every archetype has: engagement differs between
accounts (log-normal, sigma 0.25) and from week to week (sigma 0.15); about
one account in five answers a relationship survey with a detractor score; a
ticket now and then is urgent or badly rated.
"""

from __future__ import annotations

import math
import random
from datetime import date, datetime, timedelta

from engine.simulator.personas import Milestone
from engine.simulator.realistic.accounts import Customer
from engine.simulator.realistic.contract import Contract, midnight, period_ends
from engine.simulator.realistic.roster import Member, initial_roster, plan_turnover
from engine.simulator.rhythm import is_workday

NPS_SCORES = tuple(range(11))
NPS_ORDINARY = (2, 1, 1, 2, 2, 4, 6, 14, 22, 22, 24)
"""Weights of scores 0-10: about 20% detractors, 35% passives, 45% promoters."""
NPS_UNHAPPY = (6, 6, 8, 12, 14, 16, 14, 12, 7, 3, 2)
NPS_DELIGHTED = (0, 0, 0, 0, 0, 0, 1, 3, 10, 36, 50)
CSAT_ORDINARY = (0.04, 0.06, 0.15, 0.35, 0.40)
"""Weights of CSAT 1-5."""
_ROLES = ("champion", "admin", "end_user", "end_user", "executive_sponsor")
_SURVEY_EVERY = 180
_REVIEW_EVERY = 91


class Script:
    """A steady account: stays, renews, with ordinary noise."""

    def __init__(self, account: Customer, start: date, days: int) -> None:
        self.account = account
        self.start = start
        self.days = days
        self.rng = account.rng("script")
        rng = self.rng
        self.first_day = account.first_day
        self.opened_at: datetime | None = None
        """When the account enters the stream, if not at its first day's local midnight."""
        self.contract: Contract = account.contract
        self.cancel_day: int | None = None
        self.cancelled_at: datetime | None = None
        """Ground truth: when the subscription_cancelled event happens, if in the period."""
        self.cancels_on: date | None = None
        """When it cancels, even beyond the period."""
        self.expanded_at: datetime | None = None
        self.converted_at: datetime | None = None
        self.scheduled_at_start: datetime | None = None
        """A cancellation already scheduled when the stream begins: when it takes effect."""
        self.failed_renewals: set[date] = set()
        """Period ends whose renewal invoice fails (retries and recovery are milestones)."""
        self.milestones: dict[int, list[Milestone]] = {}
        self.engagement_base = min(1.6, max(0.55, rng.lognormvariate(0, 0.25)))
        self.breadth_base = rng.randint(4, 7)
        self.tickets_base = (0.006 + 0.0011 * account.seats) * rng.uniform(0.6, 1.5)
        self.premium_base = (0.003 + 0.0004 * account.seats) * rng.uniform(0.5, 1.5)
        self.api_base = account.plan.api_calls_per_day_limit * min(0.5, rng.lognormvariate(-2, 0.6))
        self.data_base = account.plan.data_volume_limit_gb * rng.uniform(0.08, 0.45)
        self._weeks: dict[int, float] = {}
        self.members: list[Member] = self._roster()
        self._plan()

    # -- the team -----------------------------------------------------------------------

    def _roster(self) -> list[Member]:
        """Users already on the account when the stream begins, and later turnover."""
        members = initial_roster(self.rng, self.account.seats, joined=-1)
        plan_turnover(self.rng, members, self.first_day, self.days)
        return members

    @property
    def champion(self) -> Member:
        return self.members[0]

    # -- timeline -------------------------------------------------------------------------

    def _plan(self) -> None:
        """Milestones every account has: surveys, business reviews, trainings."""
        rng, seats = self.rng, self.account.seats
        survey = rng.randint(0, _SURVEY_EVERY - 1)
        while survey < self.days:
            if rng.random() < 0.7 and survey >= self.first_day:
                self._nps_wave(self._workday(survey), NPS_ORDINARY)
            survey += _SURVEY_EVERY
        if self.account.segment != "smb":
            review = rng.randint(0, _REVIEW_EVERY - 1)
            while review < self.days:
                if rng.random() < 0.7:
                    for attendee in range(rng.randint(1, 3)):
                        self._add(
                            self._workday(review), Milestone("business_review", {"n": attendee})
                        )
                review += _REVIEW_EVERY
        trainings = sum(rng.random() < 0.0015 * (1 + seats / 40) for _ in range(self.days))
        for _ in range(trainings):
            self._add(self._workday(rng.randrange(self.days)), Milestone("training"))

    def _workday(self, day: int) -> int:
        """`day`, or the next workday within the period."""
        while day < self.days - 1 and not is_workday(self.date_of(day)):
            day += 1
        return min(day, self.days - 1)

    def _day_between(self, low: float, high: float) -> int:
        """A workday between these fractions of the period."""
        return self._workday(int(self.rng.uniform(low, high) * self.days))

    def date_of(self, day: int) -> date:
        return self.start + timedelta(days=day)

    def day_of(self, when: date) -> int:
        return (when - self.start).days

    def _add(self, day: int, milestone: Milestone) -> None:
        if self.first_day <= day < self.days:
            self.milestones.setdefault(day, []).append(milestone)

    def _nps_wave(self, day: int, weights: tuple[int, ...]) -> None:
        size = self.rng.randint(1, max(1, min(6, 1 + self.account.seats // 15)))
        for respondent in range(size):
            score = self.rng.choices(NPS_SCORES, weights)[0]
            role = "champion" if respondent == 0 else self.rng.choice(_ROLES)
            self._add(day, Milestone("nps", {"score": score, "role": role, "n": respondent}))

    def period_ends(self, until: date | None = None) -> list[date]:
        """The paid contract's period ends from the first one to `until` (default: period end)."""
        until = until or self.date_of(self.days)
        return list(period_ends(self.account.renewal_date, self.contract, until))

    def _cancel_at_period_end(self, period_end: date, delay: timedelta | None = None) -> None:
        """Cancel at a period end (plus `delay`, e.g. the end of dunning), in the period or not.

        The instant is whole seconds, as Stripe's `created` is, so that the ground
        truth equals the event's decoded time in either billing shape.
        """
        at = (
            midnight(period_end)
            + (delay or timedelta())
            + timedelta(seconds=self.rng.randint(1, 600))
        )
        self._cancel(at)

    def _cancel(self, at: datetime) -> None:
        self.cancels_on = at.date()
        day = self.day_of(at.date())
        if day >= self.days:
            return
        self.cancel_day = max(day, self.first_day)
        self.cancelled_at = at
        self._add(self.cancel_day, Milestone("cancel", {"at": at}))

    def _schedule_cancel(self, day: int, period_end: date) -> None:
        """The customer asks to cancel at the end of the period (Stripe: cancel at period end).

        Asked before the stream began, it is part of the state the opening snapshot shows.
        """
        if day < self.first_day:
            self.scheduled_at_start = midnight(period_end)
        else:
            self._add(day, Milestone("schedule_cancel", {"cancel_at": midnight(period_end)}))

    def active_on(self, day: int) -> bool:
        """The account exists and has not cancelled yet (usage stops at cancellation)."""
        return day >= self.first_day and (self.cancel_day is None or day < self.cancel_day)

    # -- daily rates ----------------------------------------------------------------------

    def engagement(self, day: int) -> float:
        """Multiplier on every user's chance of being active today (before the calendar)."""
        return self.engagement_base * self._week_noise(day)

    def _week_noise(self, day: int) -> float:
        week = (self.date_of(day).toordinal() - 1) // 7
        noise = self._weeks.get(week)
        if noise is None:
            rng = random.Random(f"{self.account.seed}:week:{week}")  # noqa: S311 - simulation
            noise = self._weeks[week] = min(1.5, rng.lognormvariate(0, 0.15))
        return noise

    def member_factor(self, member: Member, day: int) -> float:
        """Multiplier for one user (a fading team, a successor warming up)."""
        return 1.0

    def breadth(self, day: int) -> int:
        """How many of the core features the account uses."""
        return self.breadth_base

    def tickets_per_day(self, day: int) -> float:
        return self.tickets_base

    def urgent_share(self, day: int) -> float:
        return 0.12

    def csat_weights(self, day: int) -> tuple[float, ...]:
        return CSAT_ORDINARY

    def premium_per_day(self, day: int) -> float:
        return self.premium_base

    def api_calls(self, day: int) -> float:
        """API calls the account wants to make on a workday (the plan's limit caps them)."""
        return self.api_base

    def data_gb(self, day: int) -> float:
        """Data stored: grows slowly."""
        return self.data_base * (1 + 0.0008 * max(0, day))

    def data_reported_on(self, day: date) -> bool:
        return day.weekday() in (0, 3)

    def referrals_per_day(self, day: int) -> float:
        return 0.001

    def community_per_day(self, day: int) -> float:
        return 0.004


def fade(day: int, since: int, half_life: float, floor: float) -> float:
    """1 before `since`, then halving every `half_life` days down to `floor`."""
    if day < since:
        return 1.0
    return max(floor, math.pow(0.5, (day - since) / half_life))
