"""The simulated SaaS product: its plans, its core and premium features, the event names it emits.

Event names are the defaults of ``signals.config.UsageMapping``, so the default
rules react to a simulation without configuration; only the core feature list
must be given to the engine (``usage.core_features``), and it is exported here
for that.
"""

from __future__ import annotations

from dataclasses import dataclass

CORE_FEATURES: tuple[str, ...] = (
    "dashboards",
    "reports",
    "alerts",
    "workflows",
    "integrations",
    "data_import",
    "sharing",
    "exports",
)
"""Values of the ``feature`` property of ``Feature Used``: set ``usage.core_features`` to this."""

PREMIUM_FEATURES: tuple[str, ...] = ("sso", "audit_log", "advanced_analytics", "sandbox")

LOGIN = "Signed In"
FEATURE_USED = "Feature Used"
FEATURE_PROPERTY = "feature"
PREMIUM_ATTEMPT = "Premium Feature Attempted"
API_CALLS = "API Calls"
API_COUNT_PROPERTY = "count"
DATA_VOLUME = "Data Volume Reported"
DATA_VOLUME_PROPERTY = "gb"
REFERRAL = "Referral Sent"
COMMUNITY_POST = "Community Post Created"
TRAINING = "Training Completed"
BUSINESS_REVIEW = "Business Review Attended"
USER_ADDED = "Account Added User"
TRIAL_STARTED = "Trial Started"
TRIAL_ENDED = "Trial Ended"


@dataclass(frozen=True)
class Plan:
    """A price list entry: per-seat monthly price and the limits the expansion rules watch."""

    name: str
    seat_price: int
    """Per seat per month, in whole currency units (Stripe gets cents)."""
    api_calls_per_day_limit: int
    data_volume_limit_gb: float


TRIAL = Plan("Trial", 0, 5_000, 10.0)
STARTER = Plan("Starter", 25, 10_000, 50.0)
GROWTH = Plan("Growth", 45, 50_000, 250.0)
ENTERPRISE = Plan("Enterprise", 80, 250_000, 1_000.0)

CURRENCY = "USD"
