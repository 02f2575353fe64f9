"""Account traits on Segment / RudderStack group and identify calls become a profile."""

from __future__ import annotations

from typing import Any

import pytest

from tests.topics import payloads
from topics.adapters.segment import from_segment
from topics.errors import PulseValidationError
from topics.models import UserLink


def _link(message: dict[str, Any]) -> UserLink:
    link = from_segment(message)
    assert isinstance(link, UserLink)
    return link


def test_group_traits_fill_the_profile_fields_they_name() -> None:
    traits = {
        "name": "Initech",
        "plan": "Enterprise",
        "seats": "40",  # a numeric string, as CRMs send it
        "owner": "jane@vendor.test",
        "segment": "Mid-Market",
        "lifecycle_stage": "Onboarding",
        "executive_sponsor": True,
        "acv": 48000,
        "industry": "Technology",  # not read
        "employees": 329,  # not seats
    }
    profile = _link(payloads.segment_group(traits=traits)).account_traits

    assert profile is not None
    assert profile.account_id == "acme"
    assert (profile.name, profile.plan, profile.seats) == ("Initech", "Enterprise", 40)
    assert (profile.csm_owner, profile.segment) == ("jane@vendor.test", "mid_market")
    assert (profile.lifecycle_stage, profile.executive_sponsor, profile.acv) == (
        "onboarding",
        True,
        48000,
    )


def test_csm_owner_is_preferred_to_owner() -> None:
    traits = {"owner": "ae@vendor.test", "csm_owner": "csm@vendor.test"}
    profile = _link(payloads.segment_group(traits=traits)).account_traits

    assert profile is not None
    assert profile.csm_owner == "csm@vendor.test"


@pytest.mark.parametrize(
    ("trait", "value"),
    [("segment", "startup"), ("seats", "many"), ("seats", -3), ("acv", "lots")],
)
def test_a_trait_pulse_cannot_use_is_named_and_the_rest_kept(trait: str, value: Any) -> None:
    link = _link(payloads.segment_group(traits={"name": "Initech", trait: value}))

    assert link.account_id == "acme"  # the link itself is never lost for a trait
    assert link.dropped_traits == (f"traits.{trait}",)
    assert link.account_traits is not None
    assert link.account_traits.name == "Initech"
    assert getattr(link.account_traits, trait) is None


def test_a_group_call_without_traits_pulse_reads_carries_no_profile() -> None:
    link = _link(payloads.segment_group(traits={"industry": "Retail", "employees": 12}))

    assert link.account_traits is None
    assert link.dropped_traits == ()


def test_user_traits_in_context_never_name_the_account() -> None:
    """RudderStack puts the identified user's traits in ``context.traits``: a person's
    name there is not the account's."""
    message = payloads.segment_group(context={"traits": {"name": "Jane Doe"}})
    del message["traits"]

    assert _link(message).account_traits is None


def test_identify_company_traits_describe_the_company_account() -> None:
    company = {"id": "acme", "name": "Acme", "plan": "pro"}
    message = payloads.segment_identify(traits={"name": "Jane Doe", "company": company})
    profile = _link(message).account_traits

    assert profile is not None
    assert (profile.account_id, profile.name, profile.plan) == ("acme", "Acme", "pro")


def test_identify_traits_of_the_user_are_not_the_account_profile() -> None:
    message = payloads.segment_identify(
        context={"groupId": "acme"}, traits={"name": "Jane Doe", "plan": "personal"}
    )

    assert _link(message).account_traits is None


def test_the_same_call_twice_is_the_same_profile_update() -> None:
    first = _link(payloads.segment_group()).account_traits
    again = _link(payloads.segment_group()).account_traits
    long_id = _link(payloads.segment_group(messageId="m" * 200)).account_traits

    assert first is not None
    assert again is not None
    assert long_id is not None
    assert first.event_id == again.event_id == "ajs-group-1:traits"
    assert len(long_id.event_id) <= 200


def test_a_user_id_in_the_billing_customers_namespace_is_refused() -> None:
    """Billing customers resolve as ids under a reserved prefix: a group call may not
    claim one (its invoices would go to the caller's account)."""
    with pytest.raises(PulseValidationError, match="reserved"):
        from_segment(payloads.segment_group(userId="billing-customer:cus_9"))
