"""The realistic preset's personas: names reported in the truth file, grouped by what happens."""

from __future__ import annotations

from enum import StrEnum


class Archetype(StrEnum):
    # stay, with ordinary noise
    STEADY = "steady"
    ADVOCATE = "advocate"
    # stay, after looking like churn for a while (confounders)
    SEASONAL_DIP = "seasonal_dip"
    QUIET_WEEKS = "quiet_weeks"
    CHAMPION_REPLACED = "champion_replaced"
    NOISY_LOYAL = "noisy_loyal"
    PAYMENT_RECOVERS = "payment_recovers"
    CANCEL_WITHDRAWN = "cancel_withdrawn"
    # stay, and grow (or want to)
    EXPANDS = "expands"
    LIMITS_NO_PURCHASE = "limits_no_purchase"
    # leave at a renewal
    CHAMPION_LEAVES = "champion_leaves"
    SCHEDULED_CANCEL = "scheduled_cancel"
    PAYMENT_LAPSES = "payment_lapses"
    SILENT_CHURN = "silent_churn"
    # trials started during the period
    TRIAL_CONVERTS = "trial_converts"
    TRIAL_LAPSES = "trial_lapses"


CHURN_ARCHETYPES = frozenset(
    {
        Archetype.CHAMPION_LEAVES,
        Archetype.SCHEDULED_CANCEL,
        Archetype.PAYMENT_LAPSES,
        Archetype.SILENT_CHURN,
    }
)
CONFOUNDERS = frozenset(
    {
        Archetype.SEASONAL_DIP,
        Archetype.QUIET_WEEKS,
        Archetype.CHAMPION_REPLACED,
        Archetype.NOISY_LOYAL,
        Archetype.PAYMENT_RECOVERS,
        Archetype.CANCEL_WITHDRAWN,
    }
)
"""Accounts whose data looks like churn for a while; they stay."""
TRIALS = frozenset({Archetype.TRIAL_CONVERTS, Archetype.TRIAL_LAPSES})
