"""A realistic population: each account's facts, its archetype's script, and its renderer."""

from __future__ import annotations

from datetime import date

from engine.simulator.realistic.accounts import build_customer
from engine.simulator.realistic.activity import RealisticActivity
from engine.simulator.realistic.archetypes import Archetype
from engine.simulator.realistic.churners import (
    ChampionLeaves,
    PaymentLapses,
    ScheduledCancel,
    SilentChurn,
)
from engine.simulator.realistic.growth import Expands, LimitsNoPurchase
from engine.simulator.realistic.outages import Outages
from engine.simulator.realistic.retained import (
    Advocate,
    CancelWithdrawn,
    ChampionReplaced,
    NoisyLoyal,
    PaymentRecovers,
    QuietWeeks,
    SeasonalDip,
)
from engine.simulator.realistic.script import Script
from engine.simulator.realistic.trials import TrialConverts, TrialLapses

SCRIPTS: dict[Archetype, type[Script]] = {
    Archetype.STEADY: Script,
    Archetype.ADVOCATE: Advocate,
    Archetype.SEASONAL_DIP: SeasonalDip,
    Archetype.QUIET_WEEKS: QuietWeeks,
    Archetype.CHAMPION_REPLACED: ChampionReplaced,
    Archetype.NOISY_LOYAL: NoisyLoyal,
    Archetype.PAYMENT_RECOVERS: PaymentRecovers,
    Archetype.CANCEL_WITHDRAWN: CancelWithdrawn,
    Archetype.EXPANDS: Expands,
    Archetype.LIMITS_NO_PURCHASE: LimitsNoPurchase,
    Archetype.CHAMPION_LEAVES: ChampionLeaves,
    Archetype.SCHEDULED_CANCEL: ScheduledCancel,
    Archetype.PAYMENT_LAPSES: PaymentLapses,
    Archetype.SILENT_CHURN: SilentChurn,
    Archetype.TRIAL_CONVERTS: TrialConverts,
    Archetype.TRIAL_LAPSES: TrialLapses,
}


def build_population(
    *,
    accounts: int,
    seed: int,
    start: date,
    days: int,
    segment_share: float,
    stripe_share: float,
    user_only_share: float,
) -> tuple[list[RealisticActivity], Outages]:
    """Every account's renderer, and the run's tracking outages."""
    outages = Outages(seed, days)
    activities = []
    for index in range(accounts):
        customer = build_customer(
            index,
            seed=seed,
            start=start,
            days=days,
            segment_share=segment_share,
            stripe_share=stripe_share,
        )
        script = SCRIPTS[customer.persona](customer, start, days)
        activities.append(
            RealisticActivity(
                customer, script, start, user_only_share=user_only_share, outages=outages
            )
        )
    return activities, outages
