"""Accounts that stay: advocates, and confounders whose data looks like churn for a while.

- seasonal dip: 1-2 weeks at 20-50% of usual engagement, in the summer
  holidays or at the year end when the period has them, then back;
- quiet weeks: one or two calendar weeks (sometimes back to back) at 3-20%,
  an offsite or a shutdown;
- champion replaced: the most active user stops and is removed, a colleague
  takes over within days, a new hire joins weeks later;
- noisy but loyal: three to five times the tickets, many urgent, low CSAT and
  unhappy survey answers, and it renews;
- payment recovers: one or two renewal invoices fail and are paid within days
  (within a week in nine cases out of ten, sometimes after a failed retry);
- cancellation withdrawn: a cancellation is scheduled, then withdrawn before
  the period ends.
"""

from __future__ import annotations

from datetime import date

from engine.simulator.personas import Milestone
from engine.simulator.realistic.roster import CHAMPION_PROPENSITY, Member, new_member
from engine.simulator.realistic.script import NPS_DELIGHTED, NPS_UNHAPPY, Script


class Advocate(Script):
    """Promoters: delighted survey answers, referrals, community posts, trainings."""

    def _plan(self) -> None:
        super()._plan()
        self.engagement_base *= 1.15
        for _ in range(self.rng.randint(1, 2)):
            self._nps_wave(self._day_between(0.05, 0.95), NPS_DELIGHTED)
        for _ in range(self.rng.randint(1, 3)):
            self._add(self._day_between(0.0, 1.0), Milestone("training"))

    def referrals_per_day(self, day: int) -> float:
        return 0.02

    def community_per_day(self, day: int) -> float:
        return 0.12


class SeasonalDip(Script):
    """One to two weeks of low usage around a holiday season, then back to normal."""

    def _plan(self) -> None:
        super()._plan()
        length = self.rng.randint(7, 14)
        self.dip_start = self._seasonal_start(length)
        self.dip_end = self.dip_start + length
        self.dip_depth = self.rng.uniform(0.2, 0.5)

    def _seasonal_start(self, length: int) -> int:
        """In August or late December when the period holds them, else anywhere in it."""
        windows = []
        for year in range(self.start.year, self.date_of(self.days).year + 1):
            for first, last in (
                (date(year, 8, 1), date(year, 8, 20)),
                (date(year, 12, 15), date(year, 12, 22)),
            ):
                low = max(self.day_of(first), 7)
                high = min(self.day_of(last), self.days - length - 7)
                if low <= high:
                    windows.append((low, high))
        if windows:
            return self.rng.randint(*self.rng.choice(windows))
        return self.rng.randint(0, max(0, self.days - length))

    def _dip(self, day: int) -> float:
        if not self.dip_start <= day < self.dip_end:
            return 1.0
        ramp = min(1.0, (day - self.dip_start + 1) / 2, (self.dip_end - day) / 3)
        return 1 - (1 - self.dip_depth) * ramp

    def engagement(self, day: int) -> float:
        return super().engagement(day) * self._dip(day)

    def tickets_per_day(self, day: int) -> float:
        return super().tickets_per_day(day) * self._dip(day)


class QuietWeeks(Script):
    """One or two calendar weeks with almost nobody around (an offsite, a shutdown)."""

    def _plan(self) -> None:
        super()._plan()
        mondays = [d for d in range(self.days - 6) if self.date_of(d).weekday() == 0]
        self.quiet: list[tuple[int, int]] = []
        self.quiet_level = self.rng.uniform(0.03, 0.2)
        if not mondays:
            return
        first = self.rng.choice(mondays)
        back_to_back = self.rng.random() < 0.2
        self.quiet.append((first, first + (14 if back_to_back else 7)))
        others = [m for m in mondays if abs(m - first) >= 28]
        if not back_to_back and others and self.rng.random() < 0.4:
            second = self.rng.choice(others)
            self.quiet.append((second, second + 7))

    def _level(self, day: int) -> float:
        quiet = any(low <= day < high for low, high in self.quiet)
        return self.quiet_level if quiet else 1.0

    def engagement(self, day: int) -> float:
        return super().engagement(day) * self._level(day)

    def tickets_per_day(self, day: int) -> float:
        return super().tickets_per_day(day) * max(0.2, self._level(day))


class ChampionReplaced(Script):
    """The most active user leaves; a colleague takes over and a new hire follows."""

    def _plan(self) -> None:
        super()._plan()
        rng = self.rng
        self.stops = self._day_between(0.15, 0.7)
        self.champion.left = self.stops + rng.randint(1, 10)
        takeover = self.stops + rng.randint(0, 10)
        present = [m for m in self.members[1:] if m.present(self.stops)]
        if present:
            successor = max(rng.sample(present, min(3, len(present))), key=lambda m: m.propensity)
        else:
            successor = new_member(rng, takeover, "regular")
            self.members.append(successor)
        successor.promoted = max(takeover, successor.joined)
        successor.promoted_propensity = rng.uniform(*CHAMPION_PROPENSITY)
        self.members.append(new_member(rng, self.stops + rng.randint(14, 45), "regular"))

    def member_factor(self, member: Member, day: int) -> float:
        return 0.0 if member is self.champion and day >= self.stops else 1.0


class NoisyLoyal(Script):
    """Many tickets, many of them urgent, low CSAT and unhappy answers; renews anyway."""

    def _plan(self) -> None:
        super()._plan()
        self.noise = self.rng.uniform(3.0, 5.0)
        for _ in range(self.rng.randint(1, 2)):
            self._nps_wave(self._day_between(0.05, 0.95), NPS_UNHAPPY)

    def tickets_per_day(self, day: int) -> float:
        return max(0.04, super().tickets_per_day(day) * self.noise)

    def urgent_share(self, day: int) -> float:
        return 0.35

    def csat_weights(self, day: int) -> tuple[float, ...]:
        return (0.25, 0.25, 0.25, 0.15, 0.10)


class PaymentRecovers(Script):
    """Renewal payments that fail and are paid within days; the account stays."""

    def _plan(self) -> None:
        super()._plan()
        rng = self.rng
        ends = [end for end in self.period_ends() if 0 <= self.day_of(end) < self.days - 10]
        if not ends:
            return
        count = 2 if len(ends) > 1 and rng.random() < 0.35 else 1
        for end in sorted(rng.sample(ends, count)):
            self.failed_renewals.add(end)
            day = self.day_of(end)
            after = rng.choice((1, 1, 2, 2, 3, 3, 4, 5, 6, 8))
            if after >= 3 and rng.random() < 0.5:
                retry = {"invoice": end, "attempt": 2}
                self._add(day + rng.randint(1, after - 1), Milestone("payment_failed", retry))
            self._add(day + after, Milestone("payment_recovered", {"invoice": end}))


class CancelWithdrawn(Script):
    """Schedules a cancellation at the period end, then withdraws it and stays."""

    def _plan(self) -> None:
        super()._plan()
        rng = self.rng
        ends = [end for end in self.period_ends() if self.day_of(end) >= 12]
        self.evaluating = (0, 0)
        if not ends:
            return
        end = rng.choice(ends)
        lead = rng.randint(8, 25) if self.contract == "monthly" else rng.randint(20, 70)
        scheduled = max(0, self.day_of(end) - lead)
        withdrawn = scheduled + rng.randint(2, max(2, self.day_of(end) - scheduled - 2))
        self._schedule_cancel(scheduled, end)
        self._add(withdrawn, Milestone("withdraw_cancel"))
        self.evaluating = (scheduled, withdrawn)

    def engagement(self, day: int) -> float:
        low, high = self.evaluating
        return super().engagement(day) * (0.85 if low <= day < high else 1.0)
