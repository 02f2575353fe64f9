"""Segment / RudderStack spec calls (track, page, screen, identify, group) as Pulse usage events.

Field layout follows Segment's public spec (common fields, track, page,
identify, group). Decisions:

- `properties` are kept one level deep: a nested object or array value is
  stored as its compact JSON text (keys sorted, so duplicates compare equal),
  cut to the 1024-character value limit (ending in "…") rather than refused;
  beyond 64 properties the first 63 are kept and `pulse_dropped_properties`
  says how many were left out. Rejecting nested values
  would dead-letter ordinary e-commerce events; flattening them into dotted
  keys would blow the 64-key bound unpredictably.
- The account comes only from the documented places: `groupId` (group call),
  `context.groupId` (any call), and for identify `traits.groupId` or
  `traits.company.id`. Properties are never searched for an account.
- The user is `userId`, else `anonymousId`.
- The event time is `timestamp` (Segment's skew-corrected time), else
  `originalTimestamp`, else `receivedAt`: the first that parses (a time
  without an offset is UTC).
- An identify that names no account is counted as ignored, not refused.
- `messageId` is optional: without it the event id is `pulse-` and the first
  32 hex digits of the SHA-256 of the call's JSON with sorted keys, so the
  same call sent twice is the same event (and deduplicated).
- Identify traits are read from `traits`, else `context.traits` (RudderStack).
- A group call's traits, and an identify's company traits, update the account's
  profile (`topics.adapters.segment_traits`); the call stays a link.
- Page and screen names come from `name`, else `properties.name`, else `event`.
- `alias` says `previousId` is another id of the user (`userId`, else `anonymousId`):
  it belongs to that user's account (signals.resolve); a `/v1/batch` envelope is
  split by `split_batch` before decoding.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson

from topics.adapters._paths import dig, validate
from topics.adapters.segment_traits import with_account_traits
from topics.errors import PulseIgnored, PulseValidationError
from topics.models import UsageEvent, UserAlias, UserLink
from topics.models.base import MAX_PROPERTIES, MAX_PROPERTY_VALUE_CHARS

__all__ = ["from_segment", "is_segment", "split_batch"]

_TIME_FIELDS = ("timestamp", "originalTimestamp", "receivedAt")
_USER_FIELDS = ("userId", "anonymousId")
_MAX_NESTED_CHARS = MAX_PROPERTY_VALUE_CHARS
DROPPED_PROPERTIES = "pulse_dropped_properties"
"""Set to how many properties were left out when a call carries more than 64."""
_VIEW_NAMES = {"page": "Page Viewed", "screen": "Screen Viewed"}


_CALLS = frozenset(["track", "page", "screen", "identify", "group", "alias"])


def is_segment(message: dict[str, Any]) -> bool:
    """A Segment/RudderStack call: a `messageId`, or a spec call naming its user the spec's
    way (`userId` / `anonymousId`) and no `event_id` (Pulse's own shape always has one)."""
    if "messageId" in message or isinstance(message.get("batch"), list):
        return True
    return (
        "event_id" not in message
        and isinstance(message.get("type"), str)
        and message["type"] in _CALLS
        and ("userId" in message or "anonymousId" in message)
    )


def split_batch(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The calls of a `/v1/batch` envelope, each with the envelope's `context` and
    `integrations` as defaults (Segment's HTTP API semantics); a lone call as itself."""
    batch = message.get("batch")
    if batch is None:
        return [message]
    if not isinstance(batch, list) or not all(isinstance(call, dict) for call in batch):
        raise PulseValidationError("batch", "must be a list of call objects")
    shared = {
        k: message[k] for k in ("context", "integrations") if isinstance(message.get(k), dict)
    }
    calls = []
    for call in batch:
        merged = dict(call)
        for key, value in shared.items():
            mine = call.get(key)
            merged[key] = value | mine if isinstance(mine, dict) else mine or value
        calls.append(merged)
    return calls


def content_id(message: dict[str, Any]) -> str:
    """A deterministic event id for a call without `messageId`."""
    digest = hashlib.sha256(orjson.dumps(message, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return "pulse-" + digest[:32]


def from_segment(message: dict[str, Any]) -> UsageEvent | UserLink | UserAlias:
    """Translate one Segment call; errors name the Segment field at fault."""
    if "batch" in message:
        raise PulseValidationError(
            "batch",
            "a /v1/batch envelope holds several calls: put one call per message "
            "(pulse ingest splits batches)",
        )
    call = message.get("type")
    if call == "alias":
        return _alias(message)
    if not isinstance(call, str):
        raise PulseValidationError("type", "must name a Segment call such as 'track'")
    if call == "track":
        return _usage(message, message.get("event"), "event", _properties(message))
    if call in _VIEW_NAMES:
        return _view(message, _VIEW_NAMES[call])
    if call == "group":
        return _link(message, message.get("groupId"), "groupId")
    if call == "identify":
        return _identify(message)
    raise PulseValidationError("type", f"unsupported Segment call {call!r}")


def _first_present(message: dict[str, Any], fields: tuple[str, ...]) -> tuple[Any, str]:
    for field in fields:
        value = message.get(field)
        if value is not None and value != "":
            return value, field
    return None, fields[0]


def _event_time(message: dict[str, Any]) -> tuple[Any, str]:
    """The first of the time fields that reads as an ISO 8601 instant (one without an
    offset is UTC, as Segment's and RudderStack's servers read it); if none does, the
    first present one, so the error names it."""
    for field in _TIME_FIELDS:
        value = message.get(field)
        if not isinstance(value, str):
            continue
        try:
            instant = datetime.fromisoformat(value.strip())
        except ValueError:
            continue
        return (instant if instant.tzinfo else instant.replace(tzinfo=UTC)), field
    return _first_present(message, _TIME_FIELDS)


def _common(message: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Fields every call maps the same way, and the Segment field each came from."""
    occurred_at, time_field = _event_time(message)
    user_id, user_field = _first_present(message, _USER_FIELDS)
    event_id = message.get("messageId")
    if event_id is None or event_id == "":
        event_id = content_id(message)
    fields = {"event_id": event_id, "occurred_at": occurred_at, "user_id": user_id}
    sources = {"event_id": "messageId", "occurred_at": time_field, "user_id": user_field}
    return fields, sources


def _usage(
    message: dict[str, Any], name: Any, name_field: str, properties: dict[str, Any]
) -> UsageEvent:
    fields, sources = _common(message)
    account_id, account_field = _account(message)
    fields.update(account_id=account_id, name=name, properties=properties)
    sources.update(account_id=account_field, name=name_field)
    return validate(UsageEvent, fields, sources)


def _view(message: dict[str, Any], action: str) -> UsageEvent:
    """A page or screen view: the view's name is kept in the event name and in properties."""
    properties = _properties(message)
    page = next(
        (
            v
            for v in (message.get("name"), properties.get("name"), message.get("event"))
            if isinstance(v, str) and v.strip()
        ),
        None,
    )
    if isinstance(page, str) and page:
        properties.setdefault("name", page)
        name = f"{action}: {page}"
    else:
        name = action
    category = message.get("category")
    if isinstance(category, str) and category:
        properties.setdefault("category", category)
    return _usage(message, name, "name", properties)


def _identify(message: dict[str, Any]) -> UserLink:
    for path in (
        ("context", "groupId"),
        ("traits", "groupId"),
        ("traits", "company", "id"),
        ("context", "traits", "groupId"),
        ("context", "traits", "company", "id"),
    ):
        account_id = dig(message, *path)
        if account_id is not None:
            return _link(message, account_id, ".".join(path))
    raise PulseIgnored(
        "segment:identify",
        "identify without account is not used: set context.groupId, traits.groupId "
        "or traits.company.id (or the same under context.traits), or send a group call",
    )


def _link(message: dict[str, Any], account_id: Any, account_field: str) -> UserLink:
    fields, sources = _common(message)
    fields["account_id"] = account_id
    sources["account_id"] = account_field
    link = validate(UserLink, fields, sources)
    return with_account_traits(link, message, account_field)


def _alias(message: dict[str, Any]) -> UserAlias:
    """``previousId`` is another id of the user (``userId``, else ``anonymousId``)."""
    fields, sources = _common(message)
    previous = message.get("previousId")
    if previous is not None and previous == fields["user_id"]:
        raise PulseIgnored("segment:alias", "an alias of an id to itself links nothing")
    fields.update(user_id=previous, alias_of=fields["user_id"])
    sources.update(user_id="previousId", alias_of=sources["user_id"])
    return validate(UserAlias, fields, sources)


def _account(message: dict[str, Any]) -> tuple[Any, str]:
    if message.get("groupId") is not None:
        return message["groupId"], "groupId"
    return dig(message, "context", "groupId"), "context.groupId"


def _properties(message: dict[str, Any]) -> dict[str, Any]:
    """Top-level properties as they are; nested objects and arrays as compact JSON text."""
    properties = message.get("properties")
    if properties is None:
        return {}
    if not isinstance(properties, dict):
        raise PulseValidationError("properties", "must be an object")
    kept = {key: _scalar(key, value) for key, value in properties.items()}
    if len(kept) > MAX_PROPERTIES:
        # Pulse reads a few configured properties; an e-commerce payload with 90 is cut,
        # in the producer's order, and says how many it lost, rather than being refused.
        dropped = len(kept) - (MAX_PROPERTIES - 1)
        kept = dict(list(kept.items())[: MAX_PROPERTIES - 1])
        kept[DROPPED_PROPERTIES] = dropped
    return kept


def _scalar(key: str, value: Any) -> Any:
    if not isinstance(value, dict | list):
        return value
    try:
        text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONEncodeError as exc:
        field = f"properties.{key}"
        raise PulseValidationError(field, f"nested value cannot be kept as JSON: {exc}") from None
    # A long nested value (a cart's products, a form's answers) is cut, not the event lost.
    return text if len(text) <= _MAX_NESTED_CHARS else text[: _MAX_NESTED_CHARS - 1] + "\u2026"
