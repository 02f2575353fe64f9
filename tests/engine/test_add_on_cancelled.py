"""An add-on cancelled beside the main plan, as Stripe sends it, through `pulse replay`
and `pulse evaluate`: no notice, no churn, and the account is still asked to advocate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from tests.engine.test_replay_cli import pulse
from tests.topics import payloads

T0 = datetime(2026, 9, 1, tzinfo=UTC)


def _stripe(n: int, day: float, event_type: str, **obj: Any) -> dict[str, Any]:
    event = payloads.stripe_subscription(event_type, **obj)
    event |= {
        "id": f"evt_{n}",
        "livemode": True,
        "created": int((T0 + timedelta(days=day)).timestamp()),
    }
    return {"topic": "billing", "value": event}


def _nps(day: float, score: int) -> dict[str, Any]:
    at = (T0 + timedelta(days=day)).isoformat()
    value = {"type": "nps", "event_id": f"n{day}", "occurred_at": at, "account_id": "acme",
             "respondent_id": f"r{day}", "score": score}  # fmt: skip
    return {"topic": "feedback", "value": value}


def test_an_add_on_set_to_cancel_then_ended_is_neither_notice_nor_churn(tmp_path: Path) -> None:
    period_end = int((T0 + timedelta(days=40)).timestamp())
    addon = {"id": "sub_addon"}
    events = [
        _stripe(1, 0, "customer.subscription.created", id="sub_main"),
        _stripe(2, 1, "customer.subscription.created", **addon),
        _stripe(3, 10, "customer.subscription.updated", **addon, cancel_at_period_end=True,
                current_period_end=period_end),
        _stripe(4, 40, "customer.subscription.deleted", **addon, status="canceled"),
        _nps(45, 10),
        _nps(60, 4),  # the last event: the data ends on day 60
    ]  # fmt: skip
    (tmp_path / "events.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))

    replayed = pulse("replay", "events.jsonl", "--out", "triggers.jsonl", cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stderr
    triggers = [
        orjson.loads(line) for line in (tmp_path / "triggers.jsonl").read_bytes().splitlines()
    ]
    rules = [(t["rule_id"], t["fired_at"][:10]) for t in triggers if t.get("type") == "trigger"]
    assert rules == [("promoter", "2026-10-16")]

    scored = pulse(
        "evaluate", "--triggers", "triggers.jsonl", "--events", "events.jsonl", cwd=tmp_path
    )
    assert scored.returncode == 0, scored.stderr
    assert "Paid churn: 0 of 1 accounts" in scored.stdout
