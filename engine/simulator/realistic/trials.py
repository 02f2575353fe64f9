"""Trials of 14 or 30 days that start during the period: some convert, most lapse.

The person who signed up invites colleagues over the first days. Converting
trials use more features week after week and become paying customers at the
trial's end (a ``subscription_updated`` to a paid plan, monthly in 85% of
cases). Lapsing ones are of three kinds: half never adopt (one or two
features, fading), three in ten try the product properly and still do not
buy, two in ten barely log in; their subscription is cancelled when the trial
ends (Stripe cancels a trial that ends without a payment method).
"""

from __future__ import annotations

import math
from datetime import timedelta

from engine.simulator.personas import Milestone
from engine.simulator.product import GROWTH, STARTER
from engine.simulator.realistic.contract import midnight
from engine.simulator.realistic.roster import Member, initial_roster
from engine.simulator.realistic.script import Script
from engine.simulator.rhythm import office_instant


class _Trial(Script):
    fill = (0.3, 0.8)

    def _roster(self) -> list[Member]:
        rng, first = self.rng, self.first_day
        members = initial_roster(rng, self.account.seats, joined=first, fill=self.fill)
        invite_days = max(1, min(10, self.trial_days - 3))
        for member in members[1:]:
            member.joined = first + rng.randint(1, invite_days)
        return members

    @property
    def trial_days(self) -> int:
        return self.account.trial_days or 14

    def _plan(self) -> None:
        rng, account = self.rng, self.account
        signs_up = office_instant(rng, self.date_of(self.first_day), account.utc_offset_hours)
        self.opened_at = max(signs_up, midnight(self.date_of(self.first_day))).replace(
            microsecond=0
        )
        self.trial_end_at = self.opened_at + timedelta(days=self.trial_days)
        self.trial_end_day = self.day_of(self.trial_end_at.date())
        self._add(self.first_day, Milestone("trial_started", {"at": self.opened_at}))
        self._add(self.trial_end_day, Milestone("trial_ended", {"at": self.trial_end_at}))
        super()._plan()
        self._outcome()

    def _outcome(self) -> None:
        raise NotImplementedError

    def _weeks_in(self, day: int) -> float:
        return max(0.0, (day - self.first_day) / 7)


class TrialConverts(_Trial):
    """Adopts feature after feature and buys at the end of the trial."""

    fill = (0.5, 1.0)

    def _outcome(self) -> None:
        rng, account = self.rng, self.account
        self.engagement_base *= 1.1
        at = self.trial_end_at + timedelta(seconds=rng.randint(1, 120))
        plan = rng.choice((STARTER, STARTER, GROWTH)) if account.segment == "smb" else GROWTH
        invited = sum(1 for m in self.members if m.joined <= self.trial_end_day)
        seats = max(3, invited + rng.randint(0, 3))
        contract = "monthly" if rng.random() < 0.85 else "annual"
        if self.trial_end_day < self.days:
            self.converted_at = at
        detail = {"at": at, "plan": plan, "seats": seats, "contract": contract}
        self._add(self.trial_end_day, Milestone("convert", detail))

    def breadth(self, day: int) -> int:
        return min(self.breadth_base, 2 + int(self._weeks_in(day) * 2))


class TrialLapses(_Trial):
    """Never adopts, tries and passes, or barely looks; cancelled when the trial ends."""

    def _outcome(self) -> None:
        self.kind = self.rng.choices(("never_adopts", "tried", "ghost"), (5, 3, 2))[0]
        self.breadth_base = {
            "never_adopts": self.rng.randint(1, 2),
            "tried": self.rng.randint(3, 4),
        }.get(self.kind, 1)
        self._cancel(self.trial_end_at + timedelta(seconds=self.rng.randint(1, 120)))

    def engagement(self, day: int) -> float:
        base = super().engagement(day)
        if self.kind == "ghost":
            return base * 0.15
        if self.kind == "never_adopts":
            return base * math.pow(0.75, self._weeks_in(day))
        return base * (0.6 if day >= self.trial_end_day - 5 else 1.0)
