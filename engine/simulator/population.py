"""The synthetic customer base: accounts with segment, seats, plan, MRR, renewal, CSM and persona.

Each account draws from its own ``random.Random`` seeded by the run's seed and
its id, so an account's attributes and behaviour do not depend on how many
other accounts are simulated or in which order they are generated.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from engine.simulator.product import ENTERPRISE, GROWTH, STARTER, TRIAL, Plan


class Persona(StrEnum):
    HEALTHY_STEADY = "healthy_steady"
    DECLINING_THEN_CANCELLING = "declining_then_cancelling"
    PAYMENT_TROUBLE = "payment_trouble"
    GROWING_PAST_LIMITS = "growing_past_limits"
    PROMOTER_CHAMPION = "promoter_champion"
    TRIAL_NEVER_ADOPTS = "trial_never_adopts"
    NOISY_RECOVERING = "noisy_recovering"


DEFAULT_PERSONA_MIX: Mapping[Persona, float] = {
    Persona.HEALTHY_STEADY: 0.55,
    Persona.DECLINING_THEN_CANCELLING: 0.08,
    Persona.PAYMENT_TROUBLE: 0.07,
    Persona.GROWING_PAST_LIMITS: 0.10,
    Persona.PROMOTER_CHAMPION: 0.10,
    Persona.TRIAL_NEVER_ADOPTS: 0.05,
    Persona.NOISY_RECOVERING: 0.05,
}
"""Mostly healthy, as a real book of business is."""

Segment = str
SEGMENTS: tuple[Segment, ...] = ("enterprise", "mid_market", "smb")
_SEGMENT_WEIGHTS = (0.1, 0.3, 0.6)
_SEATS = {"enterprise": (60, 250), "mid_market": (15, 60), "smb": (3, 15)}
_PLANS = {"enterprise": (ENTERPRISE,), "mid_market": (GROWTH,), "smb": (STARTER, STARTER, GROWTH)}
_CSMS = {
    "enterprise": ("ava.chen", "marcus.obi"),
    "mid_market": ("lena.park", "diego.ruiz", "sam.keller"),
    "smb": ("pool.smb",),
}
_UTC_OFFSETS = (-8, -5, 0, 1, 9)
_UTC_OFFSET_WEIGHTS = (3, 4, 3, 2, 1)
_NAME_PARTS = (
    ("Acme", "Globex", "Initech", "Umbra", "Vandelay", "Stark", "Wayne", "Tyrell", "Cyberdyne"),
    ("Labs", "Logistics", "Health", "Foods", "Systems", "Capital", "Media", "Energy", "Works"),
)


@dataclass(frozen=True)
class Account:
    """One simulated customer and the fixed facts its events are built from."""

    account_id: str
    name: str
    persona: Persona
    segment: Segment
    plan: Plan
    seats: int
    csm_owner: str
    renewal_date: date
    executive_sponsor: bool
    utc_offset_hours: int
    segment_shape: bool
    """Usage arrives as Segment track/group calls rather than our own UsageEvent."""
    stripe_shape: bool
    """Billing arrives as Stripe event objects rather than our own BillingEvent."""
    uses_api: bool
    seed: str
    """Seeds this account's own random stream (see :meth:`rng`)."""

    @property
    def mrr(self) -> float:
        return float(self.plan.seat_price * self.seats)

    @property
    def acv(self) -> float:
        return self.mrr * 12

    @property
    def customer_id(self) -> str:
        """The Stripe customer this account pays through."""
        return "cus_" + self.account_id.replace("-", "")

    def rng(self, purpose: str) -> random.Random:
        """An independent, reproducible random stream for one aspect of this account."""
        return random.Random(f"{self.seed}:{purpose}")  # noqa: S311 - simulation, not security


def persona_for(rng: random.Random, mix: Mapping[Persona, float]) -> Persona:
    personas = list(mix)
    return rng.choices(personas, [mix[p] for p in personas])[0]


def build_account(
    index: int,
    *,
    seed: int,
    start: date,
    mix: Mapping[Persona, float],
    segment_share: float,
    stripe_share: float,
) -> Account:
    """The `index`-th account of a run; the same arguments always give the same account."""
    account_id = f"acct-{index:05d}"
    account_seed = f"{seed}:{account_id}"
    rng = random.Random(account_seed)  # noqa: S311 - simulation, not security
    persona = persona_for(rng, mix)
    segment = rng.choices(SEGMENTS, _SEGMENT_WEIGHTS)[0]
    low, high = _SEATS[segment]
    if persona is Persona.TRIAL_NEVER_ADOPTS:
        segment, plan, seats = "smb", TRIAL, rng.randint(3, 6)
    else:
        plan, seats = rng.choice(_PLANS[segment]), rng.randint(low, high)
    name = f"{rng.choice(_NAME_PARTS[0])} {rng.choice(_NAME_PARTS[1])} {index}"
    return Account(
        account_id=account_id,
        name=name,
        persona=persona,
        segment=segment,
        plan=plan,
        seats=seats,
        csm_owner=rng.choice(_CSMS[segment]),
        renewal_date=start + timedelta(days=rng.randint(1, 365)),
        executive_sponsor=rng.random()
        < {"enterprise": 0.8, "mid_market": 0.5, "smb": 0.2}[segment],
        utc_offset_hours=rng.choices(_UTC_OFFSETS, _UTC_OFFSET_WEIGHTS)[0],
        segment_shape=rng.random() < segment_share,
        stripe_shape=rng.random() < stripe_share,
        uses_api=persona is Persona.GROWING_PAST_LIMITS or rng.random() < 0.4,
        seed=account_seed,
    )
