"""Personas: how an account behaves day by day, and the one-off things that happen to it.

A persona is a *script*: daily rates (how active users are, how many features
they touch, how many tickets they open, how close they run to plan limits) and
milestones on given days (a failed payment, an NPS wave, a cancellation). It
says nothing about event shapes; the generator renders a script into messages.
Everything is drawn up front from the account's own random stream, so the
ground truth (who cancels, when) is known before the first event is produced.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from engine.simulator.population import Account, Persona
from engine.simulator.rhythm import is_workday, office_instant

_NPS_ROLES = ("champion", "admin", "end_user", "executive_sponsor")
_SEGMENT_TICKETS_PER_DAY = {"enterprise": 0.08, "mid_market": 0.04, "smb": 0.02}
_SEGMENT_RESPONDENTS = {"enterprise": 3, "mid_market": 2, "smb": 1}


@dataclass(frozen=True)
class Milestone:
    """Something that happens once: `kind` names it, `detail` carries what it needs."""

    kind: str
    detail: Mapping[str, Any] = field(default_factory=dict)


class Script:
    """A healthy, steady account; every other persona overrides what makes it different."""

    def __init__(self, account: Account, start: date, days: int) -> None:
        self.account = account
        self.start = start
        self.days = days
        self.rng = account.rng("script")
        rng = self.rng
        self.first_day = 0
        self.cancel_day: int | None = None
        self.cancelled_at: datetime | None = None
        """Ground truth: when the subscription_cancelled event happens, if in the period."""
        self.renewal_date = account.renewal_date
        self.lifecycle_stage = "adopted"
        self.failed_invoice_days: frozenset[int] = frozenset()
        self.base_pool_share = rng.uniform(0.5, 0.75)
        self.base_breadth = rng.randint(5, 8)
        self.api_base = rng.uniform(0.1, 0.5)
        self.data_base = rng.uniform(0.2, 0.6)
        self.milestones: dict[int, list[Milestone]] = {}
        self._plan()

    # -- timeline -------------------------------------------------------------------------

    def _plan(self) -> None:
        """Add this persona's milestones; the default is an occasional NPS wave and QBR."""
        if self.rng.random() < 0.6:
            self._nps_wave(self._day_between(0.1, 0.9), (6, 7, 8, 9, 10), (1, 3, 4, 3, 2))
        if self.rng.random() < 0.4:
            self._add(self._day_between(0.1, 0.9), Milestone("business_review"))
        for _ in range(self.rng.choice((0, 0, 1, 2))):
            self._add(self._day_between(0.0, 1.0), Milestone("training"))

    def _day_between(self, low: float, high: float) -> int:
        """A workday index between these fractions of the period (a weekend shifts to Monday)."""
        day = int(self.rng.uniform(low, high) * self.days)
        while day < self.days - 1 and not is_workday(self.start + timedelta(days=day)):
            day += 1
        return min(day, self.days - 1)

    def _add(self, day: int, milestone: Milestone) -> None:
        self.milestones.setdefault(day, []).append(milestone)

    def _nps_wave(self, day: int, scores: tuple[int, ...], weights: tuple[int, ...]) -> None:
        for respondent in range(self.rng.randint(1, _SEGMENT_RESPONDENTS[self.account.segment])):
            score = self.rng.choices(scores, weights)[0]
            role = self.rng.choice(_NPS_ROLES)
            self._add(day, Milestone("nps", {"score": score, "role": role, "n": respondent}))

    def _cancel(self, day: int) -> None:
        """Cancel on `day` if it falls in the period (otherwise it happens after the horizon).

        The instant is whole seconds, as Stripe's `created` is, so that the ground
        truth equals the event's decoded time in either billing shape.
        """
        if day >= self.days:
            return
        instant = office_instant(
            self.rng, self.start + timedelta(days=day), self.account.utc_offset_hours
        )
        start = datetime.combine(self.start, time(), tzinfo=UTC)
        self.cancel_day = day
        self.cancelled_at = max(instant, start).replace(microsecond=0)
        self._add(day, Milestone("cancel", {"at": self.cancelled_at}))

    def active_on(self, day: int) -> bool:
        """Whether the account exists and has not cancelled yet (usage stops at cancellation)."""
        return day >= self.first_day and (self.cancel_day is None or day < self.cancel_day)

    # -- daily rates ----------------------------------------------------------------------

    def activity(self, day: int) -> float:
        """Multiplier on every user's chance of being active today."""
        return 1.0

    def pool_share(self, day: int) -> float:
        """Users at the account, as a share of the seats purchased."""
        return self.base_pool_share

    def breadth(self, day: int) -> int:
        """How many of the core features are in use."""
        return self.base_breadth

    def tickets_per_day(self, day: int) -> float:
        return _SEGMENT_TICKETS_PER_DAY[self.account.segment]

    def urgent_share(self, day: int) -> float:
        """Share of new tickets opened as high or urgent."""
        return 0.15

    def csat_range(self, day: int) -> tuple[int, int]:
        return (3, 5)

    def premium_attempts_per_day(self, day: int) -> float:
        return 0.01

    def api_share(self, day: int) -> float:
        """Daily API calls as a share of the plan's daily limit."""
        return self.api_base

    def data_share(self, day: int) -> float:
        """Data stored as a share of the tier limit: grows a little over the quarter."""
        return self.data_base * (1 + 0.1 * day / self.days)

    def data_reported_on(self, day: date) -> bool:
        """Data volume is a gauge the product reports twice a week."""
        return day.weekday() in (0, 3)

    def referrals_per_day(self, day: int) -> float:
        return 0.002

    def community_posts_per_day(self, day: int) -> float:
        return 0.01


class DecliningThenCancelling(Script):
    """Usage halves week after week, tickets rise, the sponsor leaves, and it cancels."""

    def _plan(self) -> None:
        self.decline_start = self._day_between(0.1, 0.4)
        cancel = self.decline_start + int(self.rng.uniform(0.25, 0.45) * self.days)
        self.renewal_date = self.start + timedelta(days=cancel + self.rng.randint(0, 14))
        detractors_on = self.rng.randint(
            self.decline_start + 7, max(self.decline_start + 7, cancel - 3)
        )
        self._nps_wave(min(detractors_on, self.days - 1), (2, 3, 4, 5, 6), (1, 2, 3, 3, 2))
        if self.account.executive_sponsor:
            sponsor_leaves = self.decline_start + self.rng.randint(0, 10)
            self._add(
                min(sponsor_leaves, self.days - 1),
                Milestone("profile", {"executive_sponsor": False}),
            )
        self._cancel(cancel)

    def _weeks_declining(self, day: int) -> float:
        return max(0.0, (day - self.decline_start) / 7)

    def activity(self, day: int) -> float:
        return max(0.03, math.pow(0.5, self._weeks_declining(day)))

    def breadth(self, day: int) -> int:
        return max(1, self.base_breadth - int(self._weeks_declining(day)))

    def tickets_per_day(self, day: int) -> float:
        rise = min(1.0, self._weeks_declining(day) / 3)
        return super().tickets_per_day(day) + 0.3 * rise

    def urgent_share(self, day: int) -> float:
        return 0.45 if day >= self.decline_start else 0.15

    def csat_range(self, day: int) -> tuple[int, int]:
        return (1, 3) if day >= self.decline_start else (3, 5)


class PaymentTrouble(Script):
    """Ordinary usage until a card starts failing; most recover, the rest cancel within weeks."""

    def _plan(self) -> None:
        super()._plan()
        failed = self._day_between(0.15, 0.7)
        self.failed_invoice_days = frozenset({failed})
        invoice = {"invoice_day": failed}
        if self.rng.random() < 0.6:
            self._add(
                min(failed + self.rng.randint(1, 10), self.days - 1),
                Milestone("payment_recovered", invoice),
            )
            return
        for retry in (3, 7):
            if failed + retry < self.days:
                self._add(failed + retry, Milestone("payment_failed", invoice))
        self._cancel(failed + self.rng.randint(14, 21))


class GrowingPastLimits(Script):
    """More users than seats, API and storage near their limits, users hitting upgrade walls."""

    def _plan(self) -> None:
        super()._plan()
        self.base_pool_share = self.rng.uniform(0.7, 0.8)

    def _progress(self, day: int) -> float:
        return day / max(1, self.days - 1)

    def activity(self, day: int) -> float:
        return 1.3

    def pool_share(self, day: int) -> float:
        return self.base_pool_share + 0.4 * self._progress(day)

    def premium_attempts_per_day(self, day: int) -> float:
        return 0.05 + 0.9 * self._progress(day)

    def api_share(self, day: int) -> float:
        return 0.45 + 0.52 * self._progress(day)

    def data_share(self, day: int) -> float:
        return 0.55 + 0.42 * self._progress(day)

    def data_reported_on(self, day: date) -> bool:
        """Near its tier limit, the product reports storage daily."""
        return True


class PromoterChampion(Script):
    """Enthusiastic: promoters in every survey, referrals, community posts, trainings, QBRs."""

    def _plan(self) -> None:
        self.base_breadth = self.rng.randint(6, 8)
        for _ in range(self.rng.randint(1, 2)):
            self._nps_wave(self._day_between(0.05, 0.95), (9, 10), (2, 3))
        for _ in range(self.rng.randint(1, 2)):
            review = self._day_between(0.05, 0.95)
            for attendee in range(2):
                self._add(review, Milestone("business_review", {"n": attendee}))
        for _ in range(self.rng.randint(2, 4)):
            self._add(self._day_between(0.0, 1.0), Milestone("training"))
        burst = self._day_between(0.1, 0.7)
        for referral in range(self.rng.randint(2, 4)):
            day = min(burst + self.rng.randint(0, 14), self.days - 1)
            self._add(day, Milestone("referral", {"n": referral}))

    def activity(self, day: int) -> float:
        return 1.15

    def tickets_per_day(self, day: int) -> float:
        return super().tickets_per_day(day) / 2

    def csat_range(self, day: int) -> tuple[int, int]:
        return (4, 5)

    def referrals_per_day(self, day: int) -> float:
        return 0.03

    def community_posts_per_day(self, day: int) -> float:
        return 0.3


class TrialNeverAdopts(Script):
    """A trial that starts during the period, touches one or two features and lapses at its end."""

    def _plan(self) -> None:
        self.lifecycle_stage = "trial"
        self.first_day = int(self.rng.uniform(0.0, 0.5) * self.days)
        length = self.rng.choice((14, 21, 30, 30))
        self.base_breadth = self.rng.randint(1, 2)
        self.base_pool_share = self.rng.uniform(0.4, 0.7)
        self.renewal_date = self.start + timedelta(days=self.first_day + length)
        self._add(self.first_day, Milestone("trial_started"))
        end = self.first_day + length
        if end < self.days:
            self._add(end, Milestone("trial_ended"))
        self._cancel(end + self.rng.randint(0, 1))

    def activity(self, day: int) -> float:
        return math.pow(0.8, (day - self.first_day) / 7)

    def tickets_per_day(self, day: int) -> float:
        return 0.01

    def premium_attempts_per_day(self, day: int) -> float:
        return 0.0


class NoisyRecovering(Script):
    """One bad week (a ticket spike, a login dip) and then back to normal; never cancels."""

    def _plan(self) -> None:
        super()._plan()
        self.spike_start = self._day_between(0.2, 0.7)
        for ticket in range(self.rng.randint(3, 5)):
            priority = "urgent" if ticket < 2 else self.rng.choice(("high", "normal"))
            day = self.spike_start + self.rng.randint(0, 3)
            self._add(day, Milestone("ticket", {"priority": priority}))

    def in_spike(self, day: int) -> bool:
        return self.spike_start <= day < self.spike_start + 7

    def activity(self, day: int) -> float:
        return 0.35 if self.in_spike(day) else 1.0

    def tickets_per_day(self, day: int) -> float:
        return 0.3 if self.in_spike(day) else super().tickets_per_day(day)

    def urgent_share(self, day: int) -> float:
        return 0.6 if self.in_spike(day) else 0.15

    def csat_range(self, day: int) -> tuple[int, int]:
        return (2, 4) if self.in_spike(day) else (4, 5)


_SCRIPTS: dict[Persona, type[Script]] = {
    Persona.HEALTHY_STEADY: Script,
    Persona.DECLINING_THEN_CANCELLING: DecliningThenCancelling,
    Persona.PAYMENT_TROUBLE: PaymentTrouble,
    Persona.GROWING_PAST_LIMITS: GrowingPastLimits,
    Persona.PROMOTER_CHAMPION: PromoterChampion,
    Persona.TRIAL_NEVER_ADOPTS: TrialNeverAdopts,
    Persona.NOISY_RECOVERING: NoisyRecovering,
}


def script_for(account: Account, start: date, days: int) -> Script:
    """The persona script of `account` over a period of `days` from `start`."""
    return _SCRIPTS[account.persona](account, start, days)
