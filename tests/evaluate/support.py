"""Builders for hand-made evaluation cases: days from an origin, triggers, outcomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from engine.evaluation.model import Outcome
from topics.models import Evidence, Trigger

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def observed(start: float, end: float, **facts: Any) -> Outcome:
    """An account watched from day ``start`` to day ``end``."""
    return Outcome(observed_from=day(start), observed_until=day(end), **facts)


def churned(start: float, at: float, **facts: Any) -> Outcome:
    return observed(start, at, cancelled_at=day(at), ended_at=day(at), **facts)


def trigger(
    account: str,
    rule: str,
    at: float,
    kind: str = "churn_risk",
    evidence: list[Evidence] | None = None,
    **extra: Any,
) -> Trigger:
    return Trigger(
        trigger_id=f"{account}-{rule}-{at}",
        account_id=account,
        rule_id=rule,
        rule_version=1,
        kind=kind,  # type: ignore[arg-type]
        severity="high",
        priority=1.0,
        fired_at=day(at),
        evidence=evidence or [],
        health=None,
        csm_owner=extra.pop("csm_owner", None),
        recommended_play="call",
        explanation="test",
        **extra,
    )
