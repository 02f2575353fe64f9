"""Accounts that leave at a renewal, most of them without a loud warning.

- champion leaves: the most active user stops 5-13 weeks before the renewal;
  a few days later the rest of the team starts to fade (activity halving every
  10-25 days, down to 5-20%), fewer features, fewer tickets, the executive
  sponsor gone too; 40% schedule the cancellation 3-20 days ahead, the others
  just cancel at the renewal;
- scheduled cancellation: ordinary usage, then a cancellation scheduled 3-25
  days (monthly) or 2-11 weeks (annual) before the period end, usage easing
  off a little, and the cancellation at the period end;
- payment lapses: ordinary usage; the renewal invoice fails, Stripe retries 3,
  7 and 12 days later and cancels the subscription when dunning ends 14-21
  days after the renewal;
- silent churn: nothing to see (a quarter ease off a little in their last
  three weeks); cancels at the renewal.
"""

from __future__ import annotations

from datetime import date, timedelta

from engine.simulator.personas import Milestone
from engine.simulator.realistic.roster import Member
from engine.simulator.realistic.script import NPS_ORDINARY, NPS_UNHAPPY, Script, fade


class _Leaving(Script):
    """Leaves at the renewal its account was given (``Customer.leaves_at``)."""

    @property
    def leaves_at(self) -> date:
        leaves = self.account.leaves_at
        if leaves is None:
            msg = f"{self.account.account_id} plays {self.account.persona} but never leaves"
            raise ValueError(msg)
        return leaves


class ChampionLeaves(_Leaving):
    """The champion goes, the team fades over weeks, and the account cancels at renewal."""

    def _plan(self) -> None:
        rng = self.rng
        self.stops = self.day_of(self.leaves_at) - rng.randint(35, 90)
        self.fades_from = self.stops + rng.randint(3, 10)
        self.half_life = rng.uniform(10, 25)
        self.floor = rng.uniform(0.05, 0.2)
        super()._plan()
        self.champion.left = self.stops + rng.randint(1, 10)
        if self.account.executive_sponsor:
            gone = {"executive_sponsor": False}
            self._add(self.stops + rng.randint(5, 30), Milestone("profile", gone))
        survey = self.stops + rng.randint(10, 40)
        if rng.random() < 0.3:
            self._nps_wave(self._workday(survey), NPS_UNHAPPY)
        if rng.random() < 0.4:
            self._schedule_cancel(self.day_of(self.leaves_at) - rng.randint(3, 20), self.leaves_at)
        self._cancel_at_period_end(self.leaves_at)

    def _nps_wave(self, day: int, weights: tuple[int, ...]) -> None:
        super()._nps_wave(
            day, NPS_UNHAPPY if day >= self.stops and weights == NPS_ORDINARY else weights
        )

    def _team(self, day: int) -> float:
        return fade(day, self.fades_from, self.half_life, self.floor)

    def member_factor(self, member: Member, day: int) -> float:
        if member is self.champion:
            return 0.0 if day >= self.stops else 1.0
        return self._team(day)

    def breadth(self, day: int) -> int:
        return max(1, round(self.breadth_base * (0.4 + 0.6 * self._team(day))))

    def tickets_per_day(self, day: int) -> float:
        return super().tickets_per_day(day) * (0.5 + 0.5 * self._team(day))


class ScheduledCancel(_Leaving):
    """Ordinary usage, a cancellation scheduled before the period end, then the cancellation."""

    def _plan(self) -> None:
        super()._plan()
        rng = self.rng
        lead = rng.randint(3, 25) if self.contract == "monthly" else rng.randint(14, 80)
        self.scheduled = self.day_of(self.leaves_at) - lead
        self._schedule_cancel(self.scheduled, self.leaves_at)
        self._cancel_at_period_end(self.leaves_at)

    def engagement(self, day: int) -> float:
        return super().engagement(day) * (0.85 if day >= self.scheduled else 1.0)


class PaymentLapses(_Leaving):
    """The renewal payment fails, retries fail, and dunning ends in a cancellation."""

    def _plan(self) -> None:
        super()._plan()
        rng, renewal = self.rng, self.leaves_at
        self.failed_renewals.add(renewal)
        day = self.day_of(renewal)
        for attempt, after in enumerate((3, 7, 12), start=2):
            self._add(
                day + after, Milestone("payment_failed", {"invoice": renewal, "attempt": attempt})
            )
        self._cancel_at_period_end(renewal, timedelta(days=rng.randint(14, 21)))


class SilentChurn(_Leaving):
    """No warning to speak of; cancels at the renewal."""

    def _plan(self) -> None:
        super()._plan()
        self.eases_off = self.rng.random() < 0.25
        self._cancel_at_period_end(self.leaves_at)

    def engagement(self, day: int) -> float:
        last_weeks = self.eases_off and day >= self.day_of(self.leaves_at) - 21
        return super().engagement(day) * (0.8 if last_weeks else 1.0)
