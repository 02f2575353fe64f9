"""Reading what the evaluation scores: triggers, an events file, a simulator's truth file."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import orjson
from pydantic import ValidationError

from engine.evaluation.history import EventHistory, build_history
from engine.evaluation.outcomes import Truth, TruthAccount
from engine.event_file import SortedEventFile
from topics.models import Trigger

_TRIGGER_TOPICS = frozenset({"triggers.churn-risk", "triggers.expansion", "triggers.advocacy"})


class EvaluationInputError(ValueError):
    """A triggers, events or truth file that cannot be read; the message names the file."""


def read_triggers(path: Path) -> Iterator[Trigger]:
    """Triggers from JSON lines: bare triggers or replay lines on a trigger topic.

    Other messages a replay file may hold (health snapshots, dead letters) are skipped;
    a file of other messages only (the events file, say) is refused.
    """
    found = skipped = 0
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                message = orjson.loads(line)
                if isinstance(message, dict) and "topic" in message and "value" in message:
                    if message["topic"] not in _TRIGGER_TOPICS:
                        skipped += 1
                        continue
                    message = message["value"]
                if isinstance(message, dict) and message.get("type", "trigger") != "trigger":
                    skipped += 1
                    continue
                trigger = Trigger.model_validate(message)
            except (orjson.JSONDecodeError, ValidationError) as exc:
                msg = f"{path}:{number}: not a trigger: {exc}"
                raise EvaluationInputError(msg) from None
            found += 1
            yield trigger
    if skipped and not found:
        msg = (
            f"{path}: no trigger among its {skipped:,} messages (is it the events file? "
            "triggers are what `pulse replay --out` writes)"
        )
        raise EvaluationInputError(msg)


@dataclass(frozen=True)
class EventsFile:
    history: EventHistory
    rejected_lines: int
    """Lines `pulse replay` would reject too (not JSON, invalid events)."""


def read_events(
    path: Path,
    stripe: Mapping[str, Any] | None = None,
    progress: IO[str] | None = None,
    processes: int = 1,
) -> EventsFile:
    """A replay-format events file (`pulse simulate --out`), in any shape replay accepts,
    read in bounded memory (an external sort, the file's parts decoded by ``processes``
    forked processes: not from a program with threads, such as the demo's);
    `stripe`: the deployment's Stripe options, as replay and the worker read them."""
    with SortedEventFile(path, progress=progress, stripe=stripe, processes=processes) as events:
        report = events.report
        if not events.events and report.invalid:
            msg = f"{path}: no event could be read ({', '.join(report.examples.values())})"
            raise EvaluationInputError(msg)
        if not events.events:
            msg = f"{path}: holds no event, so no outcome to score against"
            raise EvaluationInputError(msg)
        return EventsFile(build_history(events), sum(report.invalid.values()))


def read_truth(path: Path) -> Truth:
    """The ground truth written by `pulse simulate --truth`."""
    try:
        document = orjson.loads(path.read_bytes())
        accounts = {
            account_id: TruthAccount(
                persona=str(facts["persona"]),
                plan=None if facts.get("plan") is None else str(facts["plan"]),
                cancelled_at=_instant(facts["cancelled_at"]),
            )
            for account_id, facts in document["accounts"].items()
        }
        start = _instant(document.get("start"))
        days = document.get("days")
        end = start + timedelta(days=days) if start is not None and days is not None else None
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        msg = f"{path}: not a truth file from `pulse simulate --truth`: {exc!r}"
        raise EvaluationInputError(msg) from None
    return Truth(accounts, start, end)


def _instant(value: object) -> datetime | None:
    if value is None:
        return None
    at = datetime.fromisoformat(str(value))
    if at.tzinfo is None:
        msg = f"{value!r} has no timezone"
        raise ValueError(msg)
    return at
