"""The peer job: Pulse's per-account work cut down to what a hand-written job would do.

Shared by the Quix Streams and faust peers so that both do exactly the same work per
event; only the framework around it differs. Per account, in plain JSON-able dicts:

- daily buckets (logins, events) for the last 35 days;
- weekly login decline: logins of the last completed ISO week against the one before,
  a drop of 40% or more three weeks running emits ``login_decline`` (once, re-armed
  when the streak breaks), as Pulse's default rule;
- seat utilisation: users active in 28 days over seats purchased, 0.8 or more emits
  ``seat_limit`` (re-armed below it).

Input is decoded with orjson from the same topics and shapes Pulse reads (own events,
Segment track/group calls, Stripe events). User-only events are resolved through the
user's group call, as Pulse does; ones whose group call has not come yet are parked
with the user until it does. Malformed messages are skipped (counted).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson

LOGIN_EVENTS = frozenset({"Signed In", "Session Started", "Logged In"})
"""Pulse's default ``usage.login_events``."""
BUCKET_DAYS = 35
ACTIVE_DAYS = 28
DECLINE = -0.4
DECLINE_WEEKS = 3
SEAT_LIMIT = 0.8
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_FIRST_MONDAY = 4
"""1970-01-05, day 4 of the epoch, was a Monday: ISO weeks are (day - 4) // 7."""

Record = dict[str, Any]
"""A decoded event: a account, u user, d day (since the epoch), k kind, l login, s seats."""
_days: dict[str, int] = {}


def day_of(stamp: str) -> int:
    """Days since the epoch of an ISO 8601 timestamp (cached per date)."""
    head = stamp[:10]
    day = _days.get(head)
    if day is None:
        day = _days[head] = date.fromisoformat(head).toordinal() - _EPOCH_ORDINAL
    return day


def parse(raw: bytes | None, kind: str) -> Record | None:
    """One input message as a record, or None when it is malformed or not usable."""
    try:
        message = orjson.loads(raw or b"")
        record = _decode(message, kind) if isinstance(message, dict) else None
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None
    if record is None or (record["a"] is None and record["u"] is None):
        return None
    return record


def _decode(message: dict[str, Any], kind: str) -> Record:
    if kind == "billing" and message.get("object") == "event":
        return _stripe(message)
    if "messageId" in message:
        return _segment(message)
    if message.get("type") == "group":
        account = message.get("groupId") or message.get("account_id")
        user = message.get("userId") or message.get("user_id")
        stamp = message.get("timestamp") or message["occurred_at"]
        return _record(account, user, stamp, kind, link=True)
    account, user = message.get("account_id"), message.get("user_id")
    record = _record(account, user, message["occurred_at"], kind)
    if kind == "usage":
        record["l"] = message.get("name") in LOGIN_EVENTS
    elif kind == "billing":
        record["s"] = message.get("seats_purchased")
    return record


def _record(account: Any, user: Any, stamp: str, kind: str, *, link: bool = False) -> Record:
    return {"a": account, "u": user, "d": day_of(stamp), "k": "link" if link else kind}


def _segment(message: dict[str, Any]) -> Record:
    user = message.get("userId") or message.get("anonymousId")
    stamp = message.get("timestamp") or message.get("originalTimestamp") or message["receivedAt"]
    call = message.get("type")
    if call == "group":
        return _record(message["groupId"], user, stamp, "usage", link=True)
    context = message.get("context") or {}
    account = message.get("groupId") or context.get("groupId")
    record = _record(account, user, stamp, "usage")
    record["l"] = call == "track" and message.get("event") in LOGIN_EVENTS
    return record


def _stripe(event: dict[str, Any]) -> Record:
    obj = event["data"]["object"]
    account = (obj.get("metadata") or {}).get("account_id")
    if account is None:
        parent = (obj.get("parent") or {}).get("subscription_details") or {}
        account = (parent.get("metadata") or {}).get("account_id")
    day = int(event["created"]) // 86_400
    record: Record = {"a": account, "u": None, "d": day, "k": "billing"}
    if obj.get("object") == "subscription":
        items = (obj.get("items") or {}).get("data") or [{}]
        record["s"] = items[0].get("quantity")
    return record


def needs_user(record: Record) -> bool:
    """Group calls and user-only usage go through the user's partition first."""
    return record["k"] == "link" or record["a"] is None


def resolve(record: Record, user_state: dict[str, Any]) -> tuple[list[Record], bool]:
    """On the user's partition: the records now attributed to an account, and whether
    ``user_state`` (updated in place: ``a`` its account, ``p`` parked records) changed."""
    if record["k"] == "link":
        changed = user_state.get("a") != record["a"]
        user_state["a"] = record["a"]
        released: list[Record] = user_state.pop("p", [])
        for parked in released:
            parked["a"] = record["a"]
        return released, changed or bool(released)
    account = user_state.get("a")
    if account is None:
        user_state.setdefault("p", []).append(record)
        return [], True
    record["a"] = account
    return [record], False


def new_account() -> dict[str, Any]:
    return {"b": {}, "u": {}, "s": None, "w": None, "streak": 0, "armed": [True, True]}


def update_account(state: dict[str, Any], record: Record) -> list[dict[str, Any]]:
    """Fold one account event into ``state`` (in place); the triggers it fires."""
    day = record["d"]
    buckets: dict[str, list[int]] = state["b"]
    key = str(day)
    bucket = buckets.get(key)
    if bucket is None:
        bucket = buckets[key] = [0, 0]
        if len(buckets) > BUCKET_DAYS:
            for old in [k for k in buckets if int(k) <= day - BUCKET_DAYS]:
                del buckets[old]
    bucket[1] += 1
    triggers: list[dict[str, Any]] = []
    if record.get("l"):
        bucket[0] += 1
    week = (day - _FIRST_MONDAY) // 7
    if state["w"] is None:
        state["w"] = week
    elif week > state["w"]:
        state["w"] = week
        triggers += _login_decline(state, week, record)
    recheck = False
    seats = record.get("s")
    if seats is not None and seats != state["s"]:
        state["s"], recheck = seats, True
    user = record.get("u")
    if user is not None and record["k"] == "usage":
        users: dict[str, int] = state["u"]
        last = users.get(user)
        if last is None or last < day:
            recheck = recheck or last is None or last <= day - ACTIVE_DAYS
            users[user] = day
    if recheck:
        triggers += _seat_limit(state, day, record)
    return triggers


def _week_logins(buckets: dict[str, list[int]], week: int) -> int:
    first = week * 7 + _FIRST_MONDAY
    return sum(buckets.get(str(day), (0, 0))[0] for day in range(first, first + 7))


def _login_decline(state: dict[str, Any], week: int, record: Record) -> list[dict[str, Any]]:
    last, prior = _week_logins(state["b"], week - 1), _week_logins(state["b"], week - 2)
    declined = prior > 0 and last / prior - 1 <= DECLINE
    state["streak"] = state["streak"] + 1 if declined else 0
    armed = state["armed"]
    if state["streak"] >= DECLINE_WEEKS and armed[0]:
        armed[0] = False
        change = round(last / prior - 1, 3)
        return [_trigger(record, "login_decline", "churn_risk", change)]
    if not declined:
        armed[0] = True
    return []


def _seat_limit(state: dict[str, Any], day: int, record: Record) -> list[dict[str, Any]]:
    seats = state["s"]
    if not seats:
        return []
    users: dict[str, int] = state["u"]
    for user in [u for u, last in users.items() if last <= day - ACTIVE_DAYS]:
        del users[user]
    utilisation = len(users) / seats
    armed = state["armed"]
    if utilisation >= SEAT_LIMIT and armed[1]:
        armed[1] = False
        return [_trigger(record, "seat_limit", "expansion", round(utilisation, 3))]
    if utilisation < SEAT_LIMIT:
        armed[1] = True
    return []


def _trigger(record: Record, rule: str, kind: str, value: float) -> dict[str, Any]:
    return {
        "account_id": record["a"],
        "rule_id": rule,
        "kind": kind,
        "day": record["d"],
        "value": value,
    }


def encode_trigger(trigger: dict[str, Any]) -> bytes:
    return orjson.dumps(trigger)
