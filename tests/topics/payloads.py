"""Valid example payloads (our own shape and vendor shapes) that tests vary one field at a time."""

from __future__ import annotations

from typing import Any

T0 = "2026-10-05T12:00:00Z"


def usage(**changes: Any) -> dict[str, Any]:
    return {
        "event_id": "ev-1",
        "occurred_at": T0,
        "account_id": "acme",
        "user_id": "u-1",
        "name": "Report Exported",
        "properties": {"format": "pdf", "pages": 3, "ratio": 0.5, "first": True, "team": None},
    } | changes


def user_link(**changes: Any) -> dict[str, Any]:
    return {
        "type": "group",
        "event_id": "ev-2",
        "occurred_at": T0,
        "user_id": "u-1",
        "account_id": "acme",
    } | changes


def ticket(**changes: Any) -> dict[str, Any]:
    return {
        "event_id": "ev-3",
        "occurred_at": T0,
        "account_id": "acme",
        "ticket_id": "T-100",
        "action": "opened",
        "priority": "high",
    } | changes


def billing(**changes: Any) -> dict[str, Any]:
    return {
        "event_id": "ev-4",
        "occurred_at": T0,
        "account_id": "acme",
        "action": "subscription_started",
        "plan": "Growth",
        "seats_purchased": 25,
        "mrr": 1250.0,
        "currency": "usd",
        "renewal_date": "2027-10-05",
        "api_calls_per_day_limit": 100000,
        "data_volume_limit_gb": 50.0,
    } | changes


def survey(**changes: Any) -> dict[str, Any]:
    return {
        "event_id": "ev-5",
        "occurred_at": T0,
        "account_id": "acme",
        "respondent_id": "r-1",
        "score": 9,
        "comment": "Great product.\nWould recommend.",
        "role": "champion",
    } | changes


def account(**changes: Any) -> dict[str, Any]:
    return {
        "event_id": "ev-6",
        "occurred_at": T0,
        "account_id": "acme",
        "name": "Acme Corp",
        "segment": "enterprise",
        "csm_owner": "jane@example.com",
        "acv": 120000.0,
        "lifecycle_stage": "adopted",
        "executive_sponsor": True,
    } | changes


def _command(kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "command_id": f"cmd-{kind}",
        "occurred_at": T0,
        "account_id": "acme",
        "author": "csm@example.com",
    } | fields


def snooze(**changes: Any) -> dict[str, Any]:
    until = "2026-11-05T00:00:00Z"
    return _command("rule_snoozed", rule_id="gone_quiet", until=until, reason="on leave") | changes


def override(**changes: Any) -> dict[str, Any]:
    return (
        _command(
            "override_set",
            component=None,
            score=35.5,
            reason="sponsor left",
            expires_at="2026-11-05T00:00:00Z",
        )
        | changes
    )


def feedback(**changes: Any) -> dict[str, Any]:
    return (
        _command(
            "trigger_feedback",
            trigger_id="0123456789abcdef0123456789abcdef",
            verdict="not_useful",
            note="already renewing",
        )
        | changes
    )


def health(**changes: Any) -> dict[str, Any]:
    return {
        "account_id": "acme",
        "as_of": T0,
        "score": 72.5,
        "band": "yellow",
        "components": [
            {
                "name": "product_usage",
                "weight": 40,
                "effective_weight": 47.06,
                "score": 0.6,
                "points": 28.24,
                "metrics": {"dau_share": 0.55, "feature_adoption": None},
            }
        ],
        "missing_components": ["financial"],
        "trend_7d": -3.0,
        "trend_30d": None,
        "overrides": [
            {
                "component": None,
                "score": 80,
                "reason": "exec call went well",
                "set_by": "jane",
                "expires_at": "2026-11-01T00:00:00+00:00",
            }
        ],
    } | changes


def trigger(**changes: Any) -> dict[str, Any]:
    return {
        "trigger_id": "trg-9f2c",
        "account_id": "acme",
        "rule_id": "login_decline",
        "rule_version": 1,
        "kind": "churn_risk",
        "severity": "high",
        "priority": 3.5,
        "fired_at": T0,
        "evidence": [
            {
                "metric": "weekly_logins_change",
                "value": -0.45,
                "threshold": -0.4,
                "comparison": "<=",
                "window": "3 ISO weeks 2026-W40..W42",
            }
        ],
        "health": health(),
        "csm_owner": "jane@example.com",
        "recommended_play": "re-onboarding",
        "explanation": "Weekly logins fell 45% or more for 3 weeks in a row.",
    } | changes


def dead_letter(**changes: Any) -> dict[str, Any]:
    return {
        "original_b64": "eyJiYWQiOiB0cnVlfQ==",
        "original_key_b64": "YWNtZQ==",
        "source_topic": "pulse.usage.v1",
        "partition": 3,
        "offset": 1042,
        "error_kind": "validation",
        "error_message": "occurred_at: Field required",
        "received_at": T0,
    } | changes


def segment_track(**changes: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Report Exported",
        "messageId": "ajs-next-1d0f5b1e",
        "userId": "u-1",
        "anonymousId": "anon-7",
        "timestamp": "2026-10-05T14:00:00.120+02:00",
        "originalTimestamp": "2026-10-05T14:00:00.000+02:00",
        "receivedAt": "2026-10-05T12:00:01.000Z",
        "sentAt": "2026-10-05T12:00:00.500Z",
        "context": {"groupId": "acme", "library": {"name": "analytics.js", "version": "2.11.1"}},
        "properties": {"format": "pdf", "pages": 3},
        "integrations": {"All": True},
        "version": 2,
    } | changes


def segment_identify(**changes: Any) -> dict[str, Any]:
    return {
        "type": "identify",
        "messageId": "m-1",
        "userId": "u-1",
        "timestamp": T0,
        "traits": {"email": "a@b.test"},
    } | changes


def segment_group(**changes: Any) -> dict[str, Any]:
    return {
        "type": "group",
        "messageId": "ajs-group-1",
        "userId": "u-1",
        "groupId": "acme",
        "traits": {"name": "Acme Corp", "plan": "enterprise"},
        "timestamp": "2026-10-05T12:00:00Z",
    } | changes


def stripe_subscription(event_type: str = "customer.subscription.updated", **obj: Any) -> dict:
    subscription = {
        "id": "sub_1Pq",
        "object": "subscription",
        "customer": "cus_9s6",
        "currency": "usd",
        "status": "active",
        "metadata": {"account_id": "acme"},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": "si_1",
                    "object": "subscription_item",
                    "quantity": 25,
                    "current_period_end": 1822824000,
                    "price": {
                        "id": "price_growth_yearly",
                        "object": "price",
                        "nickname": "Growth",
                        "currency": "usd",
                        "unit_amount": 60000,
                        "recurring": {"interval": "year", "interval_count": 1},
                        "metadata": {
                            "api_calls_per_day_limit": "100000",
                            "data_volume_limit_gb": "50",
                        },
                    },
                }
            ],
        },
    } | obj
    return _stripe_event(event_type, subscription)


def stripe_invoice(event_type: str = "invoice.paid", **obj: Any) -> dict[str, Any]:
    invoice = {
        "id": "in_1Pr",
        "object": "invoice",
        "customer": "cus_9s6",
        "currency": "eur",
        "amount_due": 125000,
        "amount_paid": 125000,
        "attempt_count": 1,
        "metadata": {},
        "parent": {"subscription_details": {"metadata": {"account_id": "acme"}}},
    } | obj
    return _stripe_event(event_type, invoice)


def _stripe_event(event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "evt_1PsXyZ",
        "object": "event",
        "api_version": "2025-03-31.basil",
        "created": 1791201600,
        "livemode": False,
        "type": event_type,
        "data": {"object": obj},
    }
