"""The realistic customer base: mostly small accounts, monthly and annual contracts, some trials.

Seats run from 3 to 500, skewed small: 72% SMB (3-20 seats), 23% mid-market
(20-100), 5% enterprise (100-500), each range skewed to its low end, so the
median account has about 9 seats and the mean about 26. SMB buys monthly
(70%), mid-market mostly annual (35% monthly), enterprise annual (10%
monthly). Renewal dates spread over the year: an annual contract renews on a
uniformly drawn day of the coming year, a monthly one on a billing day of the
month drawn from 1-28.

Almost every account was a customer before the stream began: it enters
mid-contract, its users exist already, and only 65% of them get a subscription
snapshot at the start (a backfill); the others' billing shows up first at
their next renewal. 10% of accounts are trials that start during the period.

Each account draws from its own random streams (seeded by the run's seed and
its id), so it is the same account however many others are simulated.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from engine.simulator.product import ENTERPRISE, GROWTH, STARTER, TRIAL, Plan
from engine.simulator.realistic import fates
from engine.simulator.realistic.archetypes import Archetype
from engine.simulator.realistic.contract import Contract, first_period_end, safe_anniversary

TRIAL_SHARE = 0.10
SNAPSHOT_SHARE = 0.65
SEGMENTS = ("smb", "mid_market", "enterprise")
_SEGMENT_WEIGHTS = (0.72, 0.23, 0.05)
_TRIAL_SEGMENT_WEIGHTS = (0.85, 0.13, 0.02)
_SEATS = {"smb": (3, 20), "mid_market": (20, 100), "enterprise": (100, 500)}
_MONTHLY_SHARE = {"smb": 0.70, "mid_market": 0.35, "enterprise": 0.10}
_PLANS = {
    "smb": (STARTER, STARTER, GROWTH),
    "mid_market": (GROWTH, GROWTH, GROWTH, ENTERPRISE),
    "enterprise": (ENTERPRISE,),
}
_CSMS = {
    "enterprise": ("ava.chen", "marcus.obi"),
    "mid_market": ("lena.park", "diego.ruiz", "sam.keller"),
    "smb": ("pool.smb",),
}
_SPONSOR_SHARE = {"enterprise": 0.8, "mid_market": 0.5, "smb": 0.15}
_UTC_OFFSETS = (-8, -5, 0, 1, 9)
_UTC_OFFSET_WEIGHTS = (3, 4, 3, 2, 1)
_NAME_PARTS = (
    ("Acme", "Globex", "Initech", "Umbra", "Vandelay", "Stark", "Wayne", "Tyrell", "Hooli"),
    ("Labs", "Logistics", "Health", "Foods", "Systems", "Capital", "Media", "Energy", "Works"),
)
_GROWTH = frozenset({Archetype.EXPANDS, Archetype.LIMITS_NO_PURCHASE})


@dataclass(frozen=True)
class Customer:
    """One simulated customer: the facts its events are built from, drawn before any event."""

    account_id: str
    name: str
    persona: Archetype
    segment: str
    plan: Plan
    """The plan when the account enters the stream (``Trial`` for a trial)."""
    seats: int
    contract: Contract
    """How it pays (a trial: how it would pay once converted)."""
    renewal_date: date
    """The period end current when it enters the stream (a trial: its last trial day)."""
    first_day: int
    """Day index on which the account enters the stream (0 unless a trial)."""
    trial_days: int | None
    leaves_at: date | None
    """The renewal at which it leaves, even beyond the period (churn archetypes only)."""
    csm_owner: str
    executive_sponsor: bool
    utc_offset_hours: int
    segment_shape: bool
    stripe_shape: bool
    uses_api: bool
    snapshot: bool
    """A subscription snapshot is sent when the stream starts (else: at the next renewal)."""
    cancel_at_period_end: bool
    """Stripe shape: a scheduled cancellation uses ``cancel_at_period_end`` (else ``cancel_at``)."""
    seed: str

    @property
    def mrr(self) -> float:
        return float(self.plan.seat_price * self.seats)

    @property
    def acv(self) -> float:
        return self.mrr * 12

    @property
    def customer_id(self) -> str:
        return "cus_" + self.account_id.replace("-", "")

    @property
    def is_trial(self) -> bool:
        return self.trial_days is not None

    def rng(self, purpose: str) -> random.Random:
        """An independent, reproducible random stream for one aspect of this account."""
        return random.Random(f"{self.seed}:{purpose}")  # noqa: S311 - simulation, not security


def skewed_seats(rng: random.Random, segment: str) -> int:
    """Seats in the segment's range, most near its low end."""
    low, high = _SEATS[segment]
    return round(low * (high / low) ** (rng.random() ** 1.5))  # type: ignore[no-any-return]


def build_customer(
    index: int,
    *,
    seed: int,
    start: date,
    days: int,
    segment_share: float,
    stripe_share: float,
) -> Customer:
    """The `index`-th account of a realistic run; the same arguments give the same account."""
    account_id = f"acct-{index:05d}"
    account_seed = f"{seed}:realistic:{account_id}"
    rng = random.Random(account_seed)  # noqa: S311 - simulation, not security
    trial = rng.random() < TRIAL_SHARE
    weights = _TRIAL_SEGMENT_WEIGHTS if trial else _SEGMENT_WEIGHTS
    segment = rng.choices(SEGMENTS, weights)[0]
    seats = rng.randint(3, 12) if trial else skewed_seats(rng, segment)
    contract: Contract = "monthly" if rng.random() < _MONTHLY_SHARE[segment] else "annual"
    plan = rng.choice(_PLANS[segment])
    billing_day = rng.randint(1, 28)
    anniversary = safe_anniversary(start + timedelta(days=rng.randint(1, 365)))
    renewal = anniversary if contract == "annual" else first_period_end(start, billing_day)
    first_day, trial_days = 0, None
    if trial:
        trial_days = rng.choice((14, 30))
        first_day = int(rng.random() * max(1, days - 7))
        renewal = start + timedelta(days=first_day + trial_days)
    fate_rng = random.Random(f"{account_seed}:fate")  # noqa: S311 - simulation, not security
    pick_rng = random.Random(f"{account_seed}:archetype")  # noqa: S311
    end = start + timedelta(days=days)
    leaves_at = None
    if trial:
        persona = fates.trial_archetype(pick_rng, segment)
    else:
        horizon = end + timedelta(days=fates.LOOKAHEAD_DAYS)
        leaves_at = fates.leaving_renewal(fate_rng, contract, segment, renewal, horizon)
        renews_in_period = renewal < end - timedelta(days=10)
        persona = fates.paid_archetype(
            pick_rng, leaves=leaves_at is not None, renews_in_period=renews_in_period
        )
    name = f"{rng.choice(_NAME_PARTS[0])} {rng.choice(_NAME_PARTS[1])} {index}"
    csm_owner = rng.choice(_CSMS[segment])
    executive_sponsor = rng.random() < _SPONSOR_SHARE[segment]
    utc_offset_hours = rng.choices(_UTC_OFFSETS, _UTC_OFFSET_WEIGHTS)[0]
    segment_shape = rng.random() < segment_share
    stripe_shape = rng.random() < stripe_share
    uses_api = rng.random() < (0.75 if persona in _GROWTH else 0.35)
    snapshot = rng.random() < SNAPSHOT_SHARE
    return Customer(
        account_id=account_id,
        name=name,
        persona=persona,
        segment=segment,
        plan=TRIAL if trial else plan,
        seats=seats,
        contract=contract,
        renewal_date=renewal,
        first_day=first_day,
        trial_days=trial_days,
        leaves_at=leaves_at,
        csm_owner=csm_owner,
        executive_sponsor=executive_sponsor,
        utc_offset_hours=utc_offset_hours,
        segment_shape=segment_shape,
        stripe_shape=stripe_shape,
        uses_api=uses_api,
        snapshot=trial or snapshot,
        cancel_at_period_end=rng.random() < 0.5,
        seed=account_seed,
    )
