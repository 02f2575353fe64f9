"""Accounts that outgrow their plan: some buy more, some hit the limits and never do.

Over 4-9 weeks the pressure builds: new colleagues join until 92-100% of the
seats are taken, everyone is a little more active (those who barely used the
product four times as active as before), users keep hitting the
upgrade wall (up to about one premium-feature attempt a day), API calls climb
to 85-100% of the plan's daily limit and storage to 88-96% of its tier.

An account that expands then buys: a higher plan (which raises its limits)
when it is on Starter or Growth and presses on the API or sometimes anyway,
else 20-60% more seats; after the purchase more colleagues join over the
following weeks. An account that does not buy plateaus at its limits and its
users give up on the premium features after a month or two.
"""

from __future__ import annotations

import math
from datetime import date

from engine.simulator.personas import Milestone
from engine.simulator.product import ENTERPRISE, GROWTH, STARTER, Plan
from engine.simulator.realistic.roster import Member, new_member
from engine.simulator.realistic.script import Script
from engine.simulator.rhythm import office_instant

_UPGRADES: dict[str, Plan] = {STARTER.name: GROWTH, GROWTH.name: ENTERPRISE}


class _Growing(Script):
    """Pressure on seats, premium features, API and storage, ramping over `ramp_days`."""

    def _grow(self, begins: int, ramp_days: int) -> None:
        rng, account = self.rng, self.account
        self.grows_from, self.ramp_days = begins, ramp_days
        self.peak_premium = rng.uniform(0.4, 1.0)
        limits = account.plan
        self.api_target = limits.api_calls_per_day_limit * rng.uniform(0.85, 1.0)
        self.data_target = limits.data_volume_limit_gb * rng.uniform(0.88, 0.96)
        wanted = round(account.seats * rng.uniform(0.92, 1.0)) - len(self.members)
        for _ in range(max(0, wanted)):
            joins = begins + rng.randint(0, ramp_days)
            self.members.append(new_member(rng, max(joins, 0), "regular"))

    def pressure(self, day: int) -> float:
        """0 before the growth, rising to 1 over the ramp."""
        return min(1.0, max(0.0, (day - self.grows_from) / self.ramp_days))

    def engagement(self, day: int) -> float:
        return super().engagement(day) * (1 + 0.3 * self.pressure(day))

    def member_factor(self, member: Member, day: int) -> float:
        """Colleagues who barely used it come to need it too."""
        return 1 + (3.0 if member.propensity < 0.15 else 0.0) * self.pressure(day)

    def premium_per_day(self, day: int) -> float:
        return super().premium_per_day(day) + self.peak_premium * self.pressure(day)

    def api_calls(self, day: int) -> float:
        base = super().api_calls(day)
        return base + (max(base, self.api_target) - base) * self.pressure(day)

    def data_gb(self, day: int) -> float:
        base = super().data_gb(day)
        return base + (max(base, self.data_target) - base) * self.pressure(day)

    def data_reported_on(self, day: date) -> bool:
        return True


class Expands(_Growing):
    """Grows into its limits, then buys more seats or a higher plan."""

    def _plan(self) -> None:
        super()._plan()
        rng, account = self.rng, self.account
        self.buys = self._day_between(0.3, 0.85)
        ramp = rng.randint(28, 63)
        self._grow(self.buys - rng.randint(0, 10) - ramp, ramp)
        upgrade = _UPGRADES.get(account.plan.name)
        self.upgraded = upgrade is not None and (account.uses_api or rng.random() < 0.4)
        plan = upgrade if upgrade is not None and self.upgraded else account.plan
        more = 1.0 if self.upgraded and rng.random() < 0.5 else rng.uniform(1.2, 1.6)
        seats = max(account.seats + (0 if more == 1.0 else 2), math.ceil(account.seats * more))
        at = office_instant(rng, self.date_of(self.buys), account.utc_offset_hours)
        self.expanded_at = at.replace(microsecond=0)
        detail = {"at": self.expanded_at, "plan": plan, "seats": seats}
        self._add(self.buys, Milestone("purchase", detail))
        for _ in range(max(0, round(seats * 0.85) - account.seats)):
            joins = self.buys + rng.randint(3, 60)
            self.members.append(new_member(rng, joins, "regular"))

    def premium_per_day(self, day: int) -> float:
        if day < self.buys:
            return super().premium_per_day(day)
        return self.premium_base + (0.0 if self.upgraded else 0.4 * self.peak_premium)


class LimitsNoPurchase(_Growing):
    """Grows into its limits and stays there; never buys, and stops trying premium features."""

    def _plan(self) -> None:
        super()._plan()
        ramp = self.rng.randint(21, 56)
        self._grow(self._day_between(0.0, 0.5) - self.rng.randint(0, 30), ramp)
        self.gives_up = self.grows_from + ramp + self.rng.randint(28, 63)

    def premium_per_day(self, day: int) -> float:
        extra = self.peak_premium * self.pressure(day)
        if day >= self.gives_up:
            extra *= 0.5 ** ((day - self.gives_up) / 7)
        return self.premium_base + extra
