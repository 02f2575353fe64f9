"""Hypothesis strategies for valid instances of every Pulse model."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from topics.models import (
    AccountProfile,
    BillingEvent,
    ComponentScore,
    DeadLetter,
    Evidence,
    HealthOverride,
    HealthSnapshot,
    SurveyResponse,
    TicketEvent,
    Trigger,
    UsageEvent,
    UserLink,
)

_PRINTABLE = st.characters(exclude_categories=("Cc", "Cs"))


def _stripped(max_size: int) -> st.SearchStrategy[str]:
    return st.text(_PRINTABLE, min_size=1, max_size=max_size).map(str.strip).filter(bool)


ids = _stripped(200)
labels = _stripped(255)
lines = st.text(_PRINTABLE, max_size=120)
texts = st.text(st.one_of(_PRINTABLE, st.sampled_from("\t\n\r")), max_size=200)
finite = st.floats(allow_nan=False, allow_infinity=False)
non_negative = st.floats(min_value=0, allow_nan=False, allow_infinity=False)
counts = st.integers(0, 2**63 - 1)
offsets = st.builds(
    timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
)
# Hypothesis takes naive bounds and attaches `timezones`; a day's margin keeps UTC in range.
instants = st.datetimes(
    min_value=datetime.min + timedelta(days=1),  # noqa: DTZ901
    max_value=datetime.max - timedelta(days=1),  # noqa: DTZ901
    timezones=offsets,
)
# Input events happen between 1970 and 2100 (topics.models.base.EventTime); a day's margin
# again, so that every offset stays inside once converted to UTC.
event_times = st.datetimes(
    min_value=datetime(1970, 1, 2),  # noqa: DTZ001
    max_value=datetime(2099, 12, 30),  # noqa: DTZ001
    timezones=offsets,
)


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


property_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    finite,
    st.text(max_size=1024),
)
properties = st.dictionaries(st.text(min_size=1, max_size=128), property_values, max_size=8)

usage_events = st.one_of(
    st.builds(
        UsageEvent,
        event_id=ids,
        occurred_at=event_times,
        account_id=ids,
        user_id=_optional(ids),
        name=labels,
        properties=properties,
    ),
    st.builds(
        UsageEvent,
        event_id=ids,
        occurred_at=event_times,
        user_id=ids,
        name=labels,
        properties=properties,
    ),
)
user_links = st.builds(UserLink, event_id=ids, occurred_at=event_times, user_id=ids, account_id=ids)
ticket_events = st.builds(
    TicketEvent,
    event_id=ids,
    occurred_at=event_times,
    account_id=ids,
    ticket_id=ids,
    action=st.sampled_from(["opened", "updated", "solved", "reopened"]),
    priority=st.sampled_from(["low", "normal", "high", "urgent"]),
    csat=_optional(st.integers(1, 5)),
    requester_id=_optional(ids),
) | st.builds(
    TicketEvent,
    event_id=ids,
    occurred_at=event_times,
    account_id=ids,
    ticket_id=ids,
    action=st.just("rated"),
    csat=st.integers(1, 5),
)
billing_events = st.builds(
    BillingEvent,
    event_id=ids,
    occurred_at=event_times,
    account_id=ids,
    action=st.sampled_from(
        [
            "subscription_started",
            "subscription_updated",
            "invoice_paid",
            "payment_failed",
            "payment_recovered",
            "subscription_cancelled",
            "refund",
        ]
    ),
    plan=_optional(labels),
    seats_purchased=_optional(counts),
    mrr=_optional(non_negative),
    currency=_optional(st.from_regex(r"[A-Za-z]{3}", fullmatch=True)),
    renewal_date=_optional(st.dates()),
    api_calls_per_day_limit=_optional(counts),
    data_volume_limit_gb=_optional(non_negative),
    amount=_optional(finite),
    invoice_id=_optional(ids),
)
survey_responses = st.builds(
    SurveyResponse,
    event_id=ids,
    occurred_at=event_times,
    account_id=ids,
    respondent_id=ids,
    score=st.integers(0, 10),
    comment=_optional(texts),
    role=_optional(st.sampled_from(["champion", "executive_sponsor", "admin", "end_user"])),
)
account_profiles = st.builds(
    AccountProfile,
    event_id=ids,
    occurred_at=event_times,
    account_id=ids,
    name=_optional(labels),
    segment=_optional(st.sampled_from(["enterprise", "mid_market", "smb"])),
    csm_owner=_optional(ids),
    acv=_optional(non_negative),
    lifecycle_stage=_optional(st.sampled_from(["trial", "onboarding", "adopted", "renewal"])),
    executive_sponsor=_optional(st.booleans()),
)

fractions = st.floats(0, 1)
points = st.floats(0, 100)
component_scores = st.builds(
    ComponentScore,
    name=st.sampled_from(["product_usage", "engagement", "support", "relationship", "financial"]),
    weight=non_negative,
    effective_weight=points,
    score=fractions,
    points=points,
    metrics=st.dictionaries(labels, _optional(finite), max_size=4),
    overridden=st.booleans(),
)
overrides = st.builds(
    HealthOverride,
    component=st.none(),
    score=points,
    reason=lines,
    set_by=_optional(ids),
    expires_at=instants,
) | st.builds(
    HealthOverride,
    component=labels,
    score=fractions,
    reason=lines,
    set_by=_optional(ids),
    expires_at=instants,
)
health_snapshots = st.builds(
    HealthSnapshot,
    account_id=ids,
    as_of=instants,
    score=_optional(points),
    band=st.sampled_from(["green", "yellow", "red", "unknown"]),
    components=st.lists(component_scores, max_size=5),
    missing_components=st.lists(labels, max_size=5),
    trend_7d=_optional(finite),
    trend_30d=_optional(finite),
    overrides=st.lists(overrides, max_size=2),
)
evidence = st.builds(
    Evidence,
    metric=labels,
    value=_optional(finite),
    threshold=_optional(finite),
    comparison=st.sampled_from([">=", "<=", ">", "<", "==", "drop>="]),
    window=lines,
    detail=lines,
)
triggers = st.builds(
    Trigger,
    trigger_id=ids,
    account_id=ids,
    rule_id=ids,
    rule_version=st.integers(1, 2**31 - 1),
    kind=st.sampled_from(["churn_risk", "expansion", "advocacy"]),
    severity=st.sampled_from(["low", "medium", "high", "critical"]),
    priority=non_negative,
    fired_at=instants,
    emitted_at=_optional(instants),
    evidence=st.lists(evidence, max_size=3),
    health=_optional(health_snapshots),
    csm_owner=_optional(ids),
    recommended_play=labels,
    explanation=lines,
    revision_of=_optional(ids),
    revision_reason=_optional(lines),
)
dead_letters = st.builds(
    DeadLetter,
    original_b64=st.binary(max_size=256).map(lambda b: base64.b64encode(b).decode()),
    original_key_b64=_optional(st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode())),
    source_topic=st.from_regex(r"[a-zA-Z0-9._-]{1,249}", fullmatch=True).filter(
        lambda name: name not in {".", ".."}
    ),
    partition=st.integers(0, 2**31 - 1),
    offset=counts,
    error_kind=st.from_regex(r"[a-z][a-z0-9_]{0,63}", fullmatch=True),
    error_message=texts,
    received_at=instants,
)

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=50))
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5)
    ),
    max_leaves=30,
)
