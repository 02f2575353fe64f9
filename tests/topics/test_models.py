"""Model contract: valid examples build, each invalid one names its field and why."""

from __future__ import annotations

import pickle
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from tests.topics import payloads
from topics.errors import PulseValidationError
from topics.models import (
    AccountProfile,
    BillingEvent,
    DeadLetter,
    HealthSnapshot,
    SurveyResponse,
    TicketEvent,
    Trigger,
    UsageEvent,
    UserLink,
)

VALID: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (UsageEvent, payloads.usage()),
    (UsageEvent, payloads.usage(account_id=None)),
    (UsageEvent, payloads.usage(user_id=None, properties={})),
    (UserLink, payloads.user_link()),
    (TicketEvent, payloads.ticket()),
    (TicketEvent, payloads.ticket(action="rated", csat=1)),
    (BillingEvent, payloads.billing()),
    (BillingEvent, payloads.billing(action="refund", amount=-20.5, mrr=None)),
    (SurveyResponse, payloads.survey()),
    (SurveyResponse, payloads.survey(score=0, comment=None, role=None)),
    (AccountProfile, payloads.account()),
    (AccountProfile, payloads.account(name=None, segment=None, acv=0)),
    (HealthSnapshot, payloads.health()),
    (HealthSnapshot, payloads.health(score=None, band="unknown", components=[])),
    (Trigger, payloads.trigger()),
    (Trigger, payloads.trigger(health=None, csm_owner=None, revision_of="trg-1")),
    (DeadLetter, payloads.dead_letter()),
    (DeadLetter, payloads.dead_letter(original_b64="", original_key_b64=None)),
]


@pytest.mark.parametrize(("model", "payload"), VALID)
def test_valid_payloads_build_frozen_models(
    model: type[BaseModel], payload: dict[str, Any]
) -> None:
    instance = model.model_validate(payload)

    with pytest.raises(ValidationError, match="frozen"):
        instance.__setattr__(next(iter(payload)), "x")


INVALID: list[tuple[type[BaseModel], dict[str, Any], str, str]] = [
    (UsageEvent, payloads.usage(account_id=None, user_id=None), "user_id", "account_id or user_id"),
    (UsageEvent, payloads.usage(occurred_at="2026-10-05T12:00:00"), "occurred_at", "timezone"),
    (UsageEvent, payloads.usage(occurred_at="yesterday"), "occurred_at", "datetime"),
    (UsageEvent, payloads.usage(occurred_at="0001-01-01T00:00:00Z"), "occurred_at", "from 1970"),
    (UsageEvent, payloads.usage(occurred_at="1969-12-31T23:59:59Z"), "occurred_at", "from 1970"),
    (UsageEvent, payloads.usage(occurred_at="2100-01-01T00:00:00Z"), "occurred_at", "up to 2100"),
    (
        TicketEvent,
        payloads.ticket(occurred_at="9999-12-31T23:59:59.999999Z"),
        "occurred_at",
        "up to 2100",
    ),
    (
        SurveyResponse,
        payloads.survey(occurred_at="1970-01-01T00:30:00+01:00"),
        "occurred_at",
        "from 1970",
    ),
    (UsageEvent, payloads.usage(event_id=""), "event_id", "at least 1 character"),
    (UsageEvent, payloads.usage(event_id="   "), "event_id", "at least 1 character"),
    (UsageEvent, payloads.usage(event_id="x" * 201), "event_id", "at most 200"),
    (UsageEvent, payloads.usage(account_id="ac\x00me"), "account_id", "control characters"),
    (UsageEvent, payloads.usage(user_id="u\u0085x"), "user_id", "control characters"),
    (UsageEvent, payloads.usage(name=""), "name", "at least 1 character"),
    (UsageEvent, payloads.usage(surprise=1), "surprise", "Extra inputs are not permitted"),
    (UsageEvent, payloads.usage(type="page"), "type", "'track'"),
    (UsageEvent, payloads.usage(properties={"a": {"b": 1}}), "properties", "'a' must be a string"),
    (UsageEvent, payloads.usage(properties={"a": [1]}), "properties", "'a' must be a string"),
    (UsageEvent, payloads.usage(properties={"a": "x" * 1025}), "properties", "at most 1024"),
    (UsageEvent, payloads.usage(properties={"k" * 129: 1}), "properties", "must be 1..128"),
    (UsageEvent, payloads.usage(properties={"": 1}), "properties", "must be 1..128"),
    (
        UsageEvent,
        payloads.usage(properties={f"p{i}": i for i in range(65)}),
        "properties",
        "at most 64 items",
    ),
    (UsageEvent, payloads.usage(properties={"x": float("inf")}), "properties", "'x' must be"),
    (UsageEvent, payloads.usage(properties=[]), "properties", "valid dictionary"),
    (UserLink, payloads.user_link(account_id=None), "account_id", "valid string"),
    (UserLink, payloads.user_link(user_id=None), "user_id", "valid string"),
    (TicketEvent, payloads.ticket(action="rated"), "csat", "required when action is 'rated'"),
    (TicketEvent, payloads.ticket(action="closed"), "action", "'opened'"),
    (TicketEvent, payloads.ticket(priority="p1"), "priority", "'urgent'"),
    (TicketEvent, payloads.ticket(csat=6), "csat", "less than or equal to 5"),
    (TicketEvent, payloads.ticket(csat=0), "csat", "greater than or equal to 1"),
    (BillingEvent, payloads.billing(currency="dollars"), "currency", "3-letter ISO 4217"),
    (BillingEvent, payloads.billing(currency="US"), "currency", "3-letter ISO 4217"),
    (BillingEvent, payloads.billing(mrr=-1), "mrr", "greater than or equal to 0"),
    (BillingEvent, payloads.billing(mrr=float("nan")), "mrr", "finite"),
    (BillingEvent, payloads.billing(seats_purchased=-1), "seats_purchased", "greater than"),
    (BillingEvent, payloads.billing(seats_purchased=2**63), "seats_purchased", "less than"),
    (BillingEvent, payloads.billing(renewal_date="soon"), "renewal_date", "valid date"),
    (BillingEvent, payloads.billing(action="upgrade"), "action", "'refund'"),
    (
        BillingEvent,
        payloads.billing(api_calls_per_day_limit=-5),
        "api_calls_per_day_limit",
        "equal to 0",
    ),
    (SurveyResponse, payloads.survey(score=11), "score", "less than or equal to 10"),
    (SurveyResponse, payloads.survey(score=-1), "score", "greater than or equal to 0"),
    (SurveyResponse, payloads.survey(comment="x" * 4097), "comment", "at most 4096"),
    (SurveyResponse, payloads.survey(comment="a\x07b"), "comment", "control characters"),
    (SurveyResponse, payloads.survey(role="ceo"), "role", "'champion'"),
    (AccountProfile, payloads.account(segment="startup"), "segment", "'smb'"),
    (AccountProfile, payloads.account(acv=-10), "acv", "greater than or equal to 0"),
    (AccountProfile, payloads.account(lifecycle_stage="churned"), "lifecycle_stage", "'trial'"),
    (HealthSnapshot, payloads.health(score=101), "score", "less than or equal to 100"),
    (HealthSnapshot, payloads.health(band="blue"), "band", "'green'"),
    (
        HealthSnapshot,
        payloads.health(
            overrides=[{**payloads.health()["overrides"][0], "component": "support", "score": 5}]
        ),
        "overrides.0.score",
        "between 0 and 1 for a component",
    ),
    (
        HealthSnapshot,
        payloads.health(components=[{**payloads.health()["components"][0], "score": 1.5}]),
        "components.0.score",
        "less than or equal to 1",
    ),
    (HealthSnapshot, payloads.health(as_of=None), "as_of", "valid datetime"),
    (Trigger, payloads.trigger(kind="upsell"), "kind", "'expansion'"),
    (Trigger, payloads.trigger(severity="sev1"), "severity", "'critical'"),
    (Trigger, payloads.trigger(rule_version=0), "rule_version", "greater than or equal to 1"),
    (Trigger, payloads.trigger(explanation="two\nlines"), "explanation", "control characters"),
    (Trigger, payloads.trigger(priority=-1), "priority", "greater than or equal to 0"),
    (Trigger, payloads.trigger(emitted_at="2026-10-05T12:00:00"), "emitted_at", "timezone"),
    (
        Trigger,
        payloads.trigger(evidence=[{"metric": "x", "value": 1, "threshold": 2}]),
        "evidence.0.comparison",
        "Field required",
    ),
    (DeadLetter, payloads.dead_letter(original_b64="not base64!"), "original_b64", "base64"),
    (DeadLetter, payloads.dead_letter(source_topic="bad topic"), "source_topic", "only contain"),
    (DeadLetter, payloads.dead_letter(error_kind="Bad Kind"), "error_kind", "snake_case"),
    (DeadLetter, payloads.dead_letter(offset=-1), "offset", "greater than or equal to 0"),
]


@pytest.mark.parametrize(("model", "payload", "field", "reason"), INVALID)
def test_invalid_payloads_name_field_and_reason(
    model: type[BaseModel], payload: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(payload)

    error = PulseValidationError.from_pydantic(caught.value)
    assert error.field == field
    assert reason in error.reason
    assert str(error) == f"{field}: {error.reason}"


def test_aware_datetimes_are_normalised_to_utc() -> None:
    event = UsageEvent.model_validate(payloads.usage(occurred_at="2026-10-05T14:30:00+02:00"))

    assert event.occurred_at == datetime(2026, 10, 5, 12, 30, tzinfo=UTC)
    assert event.occurred_at.tzinfo is UTC


def test_datetime_that_overflows_when_converted_to_utc_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="out of range once converted to UTC"):
        UsageEvent.model_validate(payloads.usage(occurred_at="0001-01-01T00:00:00+05:00"))


def test_ids_are_stripped_and_currency_upper_cased() -> None:
    event = BillingEvent.model_validate(payloads.billing(account_id="  acme ", currency=" eur"))

    assert (event.account_id, event.currency) == ("acme", "EUR")
    assert event.renewal_date == date(2027, 10, 5)


def test_property_values_keep_their_json_types() -> None:
    event = UsageEvent.model_validate(payloads.usage(properties={"b": True, "i": 1, "f": 1.0}))

    assert [type(v) for v in event.properties.values()] == [bool, int, float]


def test_dead_letter_exposes_original_bytes() -> None:
    letter = DeadLetter.model_validate(payloads.dead_letter())

    assert letter.original == b'{"bad": true}'
    assert letter.original_key == b"acme"


def test_validation_error_survives_pickling_for_process_pools() -> None:
    error = PulseValidationError("occurred_at", "is 1:00:00 ahead of now")

    clone = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes, just made

    assert (clone.field, clone.reason, str(clone)) == (error.field, error.reason, str(error))


def test_validation_error_keeps_every_pydantic_error_without_inputs() -> None:
    with pytest.raises(ValidationError) as caught:
        TicketEvent.model_validate(payloads.ticket(priority="p1", csat=9, ticket_id=""))

    error = PulseValidationError.from_pydantic(caught.value)

    assert [e["loc"] for e in error.errors] == [("ticket_id",), ("priority",), ("csat",)]
    assert all("input" not in e for e in error.errors)


@pytest.mark.parametrize("instant", ["1970-01-01T00:00:00Z", "2099-12-31T23:59:59.999999Z"])
def test_event_times_at_the_ends_of_the_plausible_range_are_accepted(instant: str) -> None:
    event = UsageEvent.model_validate(payloads.usage(occurred_at=instant))
    assert event.occurred_at == datetime.fromisoformat(instant)
