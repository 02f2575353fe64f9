"""Who leaves, when, and how: churn as a hazard on the contract calendar, then an archetype.

Paid accounts leave at renewals (or at the end of dunning after a renewal
invoice fails), never at random moments. At each renewal an account leaves
with the probability below; the draws run along the calendar from the
account's first renewal, independent of the simulated period, so a longer
period simply sees more of them.

Churn per renewal (the rates chosen; B2B SaaS logo churn, SMB highest):

| contract | SMB | mid-market | enterprise |
| --- | --- | --- | --- |
| monthly, per monthly renewal | 2.2% | 1.5% | 1.0% |
| annual, per yearly renewal | 14% | 10% | 7% |

Over 240 days that is about 16% / 11% / 8% of monthly contracts and, as about
two thirds of annual contracts renew within 240 days, about 9% / 7% / 5% of
annual ones: with the population's mix (about 58% monthly, mostly SMB) about
12% of paid accounts cancel within 240 days (8-15% is typical).

An account that leaves within the period or the quarter after it
(:data:`LOOKAHEAD_DAYS`) plays one of the churn archetypes, so the end of a
period holds accounts already on their way out, as a real book does. How they
leave (of those that leave): the champion leaves and the team fades 35%; a
cancellation scheduled ahead (Stripe's cancel at period end) 32%; a failed
renewal payment that never recovers 18%; no warning at all 15%.

The others play a retained archetype, many of them confounders that look like
churn for a while and stay (see :data:`RETAINED_MIX`).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import date

from engine.simulator.realistic.archetypes import Archetype
from engine.simulator.realistic.contract import Contract, next_period_end

LOOKAHEAD_DAYS = 90

MONTHLY_CHURN: Mapping[str, float] = {"smb": 0.022, "mid_market": 0.015, "enterprise": 0.010}
ANNUAL_CHURN: Mapping[str, float] = {"smb": 0.14, "mid_market": 0.10, "enterprise": 0.07}

CHURN_MIX: Mapping[Archetype, float] = {
    Archetype.CHAMPION_LEAVES: 0.35,
    Archetype.SCHEDULED_CANCEL: 0.32,
    Archetype.PAYMENT_LAPSES: 0.18,
    Archetype.SILENT_CHURN: 0.15,
}
RETAINED_MIX: Mapping[Archetype, float] = {
    Archetype.STEADY: 0.40,
    Archetype.SEASONAL_DIP: 0.08,
    Archetype.QUIET_WEEKS: 0.07,
    Archetype.CHAMPION_REPLACED: 0.07,
    Archetype.NOISY_LOYAL: 0.07,
    Archetype.PAYMENT_RECOVERS: 0.08,
    Archetype.CANCEL_WITHDRAWN: 0.03,
    Archetype.ADVOCATE: 0.06,
    Archetype.EXPANDS: 0.08,
    Archetype.LIMITS_NO_PURCHASE: 0.06,
}
"""Of the accounts that stay: steady ones, confounders, advocates, and growth."""

NEEDS_RENEWAL_IN_PERIOD = frozenset({Archetype.PAYMENT_RECOVERS, Archetype.CANCEL_WITHDRAWN})
"""Their episode happens around a renewal; an annual account renewing later is steady instead."""

TRIAL_CONVERSION: Mapping[str, float] = {"smb": 0.28, "mid_market": 0.40, "enterprise": 0.45}


def leaving_renewal(
    rng: random.Random, contract: Contract, segment: str, first_end: date, horizon: date
) -> date | None:
    """The renewal at which the account leaves, if it comes before `horizon`."""
    chance = (MONTHLY_CHURN if contract == "monthly" else ANNUAL_CHURN)[segment]
    end = first_end
    while end < horizon:
        if rng.random() < chance:
            return end
        end = next_period_end(end, contract)
    return None


def _pick(rng: random.Random, mix: Mapping[Archetype, float]) -> Archetype:
    kinds = list(mix)
    return rng.choices(kinds, [mix[k] for k in kinds])[0]


def paid_archetype(rng: random.Random, *, leaves: bool, renews_in_period: bool) -> Archetype:
    """A churn archetype for an account that leaves, else a retained one it can play."""
    churn, retained = _pick(rng, CHURN_MIX), _pick(rng, RETAINED_MIX)
    if leaves:
        return churn
    if retained in NEEDS_RENEWAL_IN_PERIOD and not renews_in_period:
        return Archetype.STEADY
    return retained


def trial_archetype(rng: random.Random, segment: str) -> Archetype:
    converts = rng.random() < TRIAL_CONVERSION[segment]
    return Archetype.TRIAL_CONVERTS if converts else Archetype.TRIAL_LAPSES
