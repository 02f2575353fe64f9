"""Triggers that should not exist: resting on incomplete data, or churn risk after a cancellation.

Both must be 0. A trigger rests on incomplete data when any evidence value is missing
(null), or when its evidence reads a ``health_*`` metric while the health snapshot is
provisional, absent, or scored from a single component (the design: a score resting on
one component is provisional and never fires).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from engine.evaluation.model import Outcome
from topics.models import Trigger

MISSING_VALUE = "evidence value missing"
PROVISIONAL_HEALTH = "health provisional or absent"
ONE_COMPONENT = "health from one component"


@dataclass(frozen=True)
class Integrity:
    incomplete: int
    incomplete_by_reason: dict[str, int]
    """Triggers per reason (a trigger with two reasons counts under both)."""
    incomplete_by_rule: dict[str, int]
    churn_after_cancellation: int
    """Churn-risk triggers fired once the subscription had ended (or during a lapse)."""
    after_cancellation_by_rule: dict[str, int]
    churn_after_notice: int
    """Churn-risk triggers between a scheduled cancellation's notice and its end (or its
    withdrawal): not errors, but not catches or false alarms either (the customer had
    said it)."""
    after_notice_by_rule: dict[str, int]


def incomplete_reasons(trigger: Trigger) -> list[str]:
    reasons = []
    if any(e.value is None for e in trigger.evidence):
        reasons.append(MISSING_VALUE)
    if any(e.metric.startswith("health_") for e in trigger.evidence):
        health = trigger.health
        if health is None or health.provisional:
            reasons.append(PROVISIONAL_HEALTH)
        elif len(health.components) < 2:
            reasons.append(ONE_COMPONENT)
    return reasons


def integrity(triggers: Iterable[Trigger], outcomes: Mapping[str, Outcome]) -> Integrity:
    """Check first firings (not revisions) on the accounts in ``outcomes``."""
    reasons: Counter[str] = Counter()
    incomplete: Counter[str] = Counter()
    after: Counter[str] = Counter()
    after_notice: Counter[str] = Counter()
    for trigger in triggers:
        found = incomplete_reasons(trigger)
        reasons.update(found)
        if found:
            incomplete[trigger.rule_id] += 1
        if trigger.kind != "churn_risk":
            continue
        outcome = outcomes[trigger.account_id]
        if outcome.cancelled_by(trigger.fired_at):
            after[trigger.rule_id] += 1
        elif outcome.under_notice(trigger.fired_at):
            after_notice[trigger.rule_id] += 1
    return Integrity(
        incomplete=sum(incomplete.values()),
        incomplete_by_reason=dict(sorted(reasons.items())),
        incomplete_by_rule=dict(sorted(incomplete.items())),
        churn_after_cancellation=sum(after.values()),
        after_cancellation_by_rule=dict(sorted(after.items())),
        churn_after_notice=sum(after_notice.values()),
        after_notice_by_rule=dict(sorted(after_notice.items())),
    )
