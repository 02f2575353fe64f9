"""What CSMs said of the triggers: per-rule precision from their feedback.

A history that holds the commands topic (``pulse_trigger_feedback`` in a live
deployment) carries each CSM's verdict on the triggers they got. A trigger's latest
verdict counts: ``play_started`` and ``resolved`` say it was worth acting on,
``not_useful`` and ``false_alarm`` that it was not, and ``acknowledged`` only that it
was seen. Precision from feedback is useful / (useful + dismissed), beside the
backtest's precision against outcomes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from engine.evaluation.model import ratio
from topics.models import Trigger, TriggerFeedback

USEFUL = frozenset({"play_started", "resolved"})
DISMISSED = frozenset({"not_useful", "false_alarm"})


@dataclass(frozen=True)
class FeedbackRow:
    rule_id: str
    answered: int
    """Triggers of the rule with a verdict (the latest per trigger)."""
    useful: int
    dismissed: int
    acknowledged: int
    precision: float | None
    """useful / (useful + dismissed)."""


def feedback_by_rule(
    feedback: Iterable[TriggerFeedback], triggers: Iterable[Trigger]
) -> list[FeedbackRow]:
    """Rows per rule, from the feedback on the given triggers (others: rule "unknown")."""
    rule_of = {t.trigger_id: t.rule_id for t in triggers}
    latest: dict[str, TriggerFeedback] = {}
    for answer in sorted(feedback, key=lambda f: (f.occurred_at, f.command_id)):
        latest[answer.trigger_id] = answer
    counts: dict[str, Counter[str]] = {}
    for trigger_id, answer in latest.items():
        rule = rule_of.get(trigger_id, "unknown")
        counts.setdefault(rule, Counter())[answer.verdict] += 1
    rows = []
    for rule, verdicts in sorted(counts.items()):
        useful = sum(verdicts[v] for v in USEFUL)
        dismissed = sum(verdicts[v] for v in DISMISSED)
        rows.append(
            FeedbackRow(
                rule_id=rule,
                answered=sum(verdicts.values()),
                useful=useful,
                dismissed=dismissed,
                acknowledged=verdicts["acknowledged"],
                precision=ratio(useful, useful + dismissed),
            )
        )
    return rows
