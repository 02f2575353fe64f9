"""An account's traits on Segment / RudderStack group and identify calls, as a profile.

A group call's ``traits`` describe the group, which Pulse reads as the account (never
``context.traits``: those are the user's); so does an identify's ``traits.company``
when the company is the account. The traits Pulse reads, and the profile field each
fills (the first present wins):

- ``name`` -> name; ``plan`` -> plan; ``seats`` -> seats (used where billing names none);
- ``csm_owner``, else ``owner`` -> csm_owner (whom the account's triggers are for);
- ``segment`` (``enterprise``, ``mid_market``, ``smb``; ``Mid-Market`` reads as
  ``mid_market``), ``lifecycle_stage``, ``executive_sponsor``, ``acv``.

Other traits (``industry``, ``employees``, ``website``...) are not used. A trait Pulse
reads with a value it cannot use (``segment: "startup"``, ``seats: "many"``) is left
out and named, to be counted as ignored: the call's link to its account is never lost
for a trait. The profile's event id is the call's, suffixed, so a call sent twice is
the same profile update.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from pydantic import ValidationError

from topics.adapters._paths import dig
from topics.models import AccountProfile, UserLink

__all__ = ["TRAITS", "with_account_traits"]

TRAITS: Final[dict[str, tuple[str, ...]]] = {
    "name": ("name",),
    "plan": ("plan",),
    "seats": ("seats",),
    "csm_owner": ("csm_owner", "owner"),
    "segment": ("segment",),
    "lifecycle_stage": ("lifecycle_stage",),
    "executive_sponsor": ("executive_sponsor",),
    "acv": ("acv",),
}
"""Profile field -> the traits that fill it, in order of preference."""
_WORDS: Final = frozenset(["segment", "lifecycle_stage"])
"""Fields whose values are words: read case- and separator-insensitively."""
_MAX_ID: Final = 200


def with_account_traits(link: UserLink, message: dict[str, Any], account_field: str) -> UserLink:
    """``link`` carrying the traits of the account it names, when the call has any."""
    traits, where = _traits_of(message, account_field)
    if not traits:
        return link
    base = {
        "event_id": _profile_id(link.event_id),
        "occurred_at": link.occurred_at,
        "account_id": link.account_id,
    }
    read: dict[str, tuple[str, Any]] = {}
    for field, names in TRAITS.items():
        name = next((n for n in names if traits.get(n) not in (None, "")), None)
        if name is not None:
            read[field] = (name, _word(traits[name]) if field in _WORDS else traits[name])
    if not read:
        return link
    try:  # usually every trait is fine: one validation
        whole = AccountProfile.model_validate(base | {f: v for f, (_, v) in read.items()})
        return link.with_traits(whole, ())
    except ValidationError:
        pass
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for field, (name, value) in read.items():
        try:
            AccountProfile.model_validate({**base, field: value})
        except ValidationError:
            dropped.append(f"{where}.{name}")
            continue
        kept[field] = value
    profile = AccountProfile.model_validate({**base, **kept}) if kept else None
    return link.with_traits(profile, tuple(dropped))


def _traits_of(message: dict[str, Any], account_field: str) -> tuple[dict[str, Any], str]:
    """The traits describing the account, and where they are in the call."""
    if message.get("type") == "group":
        # Only the call's own traits: `context.traits` are the user's (RudderStack puts
        # the identified user's there), whose `name` is a person's, not the account's.
        traits = message.get("traits")
        return (traits, "traits") if isinstance(traits, dict) else ({}, "")
    if account_field.endswith("company.id"):  # an identify whose company is the account
        where = account_field.removesuffix(".id")
        company = dig(message, *where.split("."))
        if isinstance(company, dict):
            return company, where
    return {}, ""


def _word(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    return "_".join(value.strip().lower().replace("-", " ").split())


def _profile_id(event_id: str) -> str:
    suffixed = f"{event_id}:traits"
    if len(suffixed) <= _MAX_ID:
        return suffixed
    return "traits-" + hashlib.sha256(event_id.encode()).hexdigest()[:32]
