"""The account view a CSM tool reads: latest health, key metrics and recent triggers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import orjson

from engine.redis_view import ViewUpdate
from signals.state import SEVERITIES, AccountState, from_micros
from topics.models import HealthSnapshot, Trigger

RECENT_TRIGGERS = 10
RECENT_JOURNAL = 10
"""Latest journal entries shown (commands, suppressed triggers, lapses), newest first."""
OPEN_FOR_US = timedelta(days=7) // timedelta(microseconds=1)
"""A trigger stays open for a week (the default cooldown) unless late data revised it."""


def account_view(
    state: AccountState, health: HealthSnapshot, fired: Sequence[Trigger]
) -> ViewUpdate:
    """Build the view from the state's fired-trigger log and the newest health snapshot."""
    log = state.fired[-RECENT_TRIGGERS:]
    newest_us = max((entry[3] for entry in log), default=0)
    recent = [
        {
            "trigger_id": entry[0],
            "rule_id": entry[1],
            "rule_version": entry[2],
            "fired_at": from_micros(entry[3]).isoformat(),
            "revised": entry[5:] == ["revised"],
            "joined": entry[5:] == ["joined"],  # joined an open conversation, never sent
            "open": len(entry) <= 5 and newest_us - entry[3] < OPEN_FOR_US,
            "feedback": _feedback(state.feedback.get(entry[0])),
        }
        for entry in reversed(log)
    ]
    document: dict[str, Any] = {
        "account_id": state.account_id,
        "health": health.model_dump(mode="json"),
        "metrics": {
            name: value
            for component in health.components
            for name, value in component.metrics.items()
        },
        "open_triggers": [t["trigger_id"] for t in recent if t["open"]],
        "trigger_ids": [entry[0] for entry in state.fired],
        "recent_triggers": recent,
        "latest_explanations": [t.explanation for t in fired][-3:],
        "snoozes": [
            {"rule_id": rule, "until": from_micros(until).isoformat(), "reason": reason}
            for rule, (until, reason, *_) in sorted(state.snoozes.items())
        ],
        "churn_episode": _conversation(state.episode_us, state.episode_rank),
        "expansion_episode": _conversation(state.offer_us, state.offer_rank),
        "advocacy_ask": _conversation(state.ask_us, state.ask_rank),
        "journal": [
            {"at": from_micros(at).isoformat(), "what": what, "by": by, "detail": detail}
            for at, what, by, detail in reversed(state.journal[-RECENT_JOURNAL:])
        ],
    }
    return ViewUpdate(state.account_id, health.band, health.score, orjson.dumps(document))


def _conversation(last_us: int, rank: int) -> dict[str, Any] | None:
    """The account's latest conversation of a kind: its last trigger sent and its
    highest severity (``signals.conversation``)."""
    if last_us < 0:
        return None
    return {"last_alert_at": from_micros(last_us).isoformat(), "severity": SEVERITIES[rank]}


def _feedback(entry: list[Any] | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    verdict, author, at, _ = entry
    return {"verdict": verdict, "by": author, "at": from_micros(at).isoformat()}
