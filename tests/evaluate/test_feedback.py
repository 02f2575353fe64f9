"""Precision from CSM feedback, by hand: a trigger's latest verdict counts; useful is
play_started or resolved, dismissed is not_useful or false_alarm."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from engine.evaluation import render, score
from engine.evaluation.feedback import feedback_by_rule
from tests.evaluate.support import day, trigger
from tests.topics import payloads
from topics.models import TriggerFeedback

IDS = {name: name * 32 for name in "abcd"}


def _answer(trigger_id: str, verdict: str, at: float, cid: str) -> TriggerFeedback:
    return TriggerFeedback(
        command_id=cid,
        occurred_at=day(at),
        account_id="A",
        author="csm",
        trigger_id=trigger_id,
        verdict=verdict,  # type: ignore[arg-type]
    )


TRIGGERS = [
    trigger("A", "gone_quiet", 1).model_copy(update={"trigger_id": IDS["a"]}),
    trigger("A", "gone_quiet", 2).model_copy(update={"trigger_id": IDS["b"]}),
    trigger("A", "ticket_spike", 3).model_copy(update={"trigger_id": IDS["c"]}),
]
FEEDBACK = [
    _answer(IDS["a"], "acknowledged", 1.5, "f1"),
    _answer(IDS["a"], "resolved", 4, "f2"),  # the latest verdict on a: useful
    _answer(IDS["b"], "false_alarm", 3, "f3"),
    _answer(IDS["c"], "acknowledged", 4, "f4"),  # seen, neither useful nor dismissed
    _answer(IDS["d"], "not_useful", 4, "f5"),  # a trigger not in the file
]


def test_precision_per_rule_from_the_latest_verdicts() -> None:
    rows = {r.rule_id: r for r in feedback_by_rule(FEEDBACK, TRIGGERS)}
    quiet = rows["gone_quiet"]
    assert (quiet.answered, quiet.useful, quiet.dismissed) == (2, 1, 1)
    assert quiet.precision == pytest.approx(1 / 2)
    spike = rows["ticket_spike"]
    assert (spike.acknowledged, spike.precision) == (1, None)
    assert (rows["unknown"].dismissed, rows["unknown"].precision) == (1, 0.0)


def test_evaluate_reports_feedback_found_in_the_events(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    lines = [
        {"topic": "billing", "value": payloads.billing()},
        *({"topic": "commands", "value": orjson.loads(f.model_dump_json())} for f in FEEDBACK),
    ]
    events.write_bytes(b"\n".join(orjson.dumps(line) for line in lines) + b"\n")
    report = score(TRIGGERS, events=events)
    text = render(report)
    assert "CSM feedback" in text
    assert [r.rule_id for r in report.feedback] == ["gone_quiet", "ticket_spike", "unknown"]
    assert report.events is not None
    assert report.events.events == 1  # commands are not events of the account
