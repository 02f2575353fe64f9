"""`pulse evaluate`: how good are the alerts? Recall and lead time against chance, precision,
volume and a naive baseline, from the billing stream itself or a simulator's truth.

Modules: ``history`` (events per account), ``outcomes`` (cancellations, trial lapses,
expansions), ``churn`` (churn-risk alert quality), ``opportunities`` (expansion and
advocacy), ``integrity`` (triggers that must not exist), ``baseline`` (the analyst's
rules), ``metrics`` (the report), ``render`` (text and JSON), ``files`` (reading inputs).
Definitions: docs/evaluation.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.evaluation.baseline import baseline_alerts
from engine.evaluation.feedback import feedback_by_rule
from engine.evaluation.files import EvaluationInputError, read_events, read_triggers, read_truth
from engine.evaluation.metrics import EvaluationReport, evaluate
from engine.evaluation.model import EvaluationSettings
from engine.evaluation.outcomes import disagreements, outcomes_from_events, with_truth
from engine.evaluation.render import render, report_json
from topics.models import Trigger

__all__ = [
    "EvaluationInputError",
    "EvaluationReport",
    "EvaluationSettings",
    "evaluate",
    "read_triggers",
    "render",
    "report_json",
    "score",
]


def score(
    triggers: Iterable[Trigger],
    *,
    events: Path | None = None,
    truth: Path | None = None,
    settings: EvaluationSettings | None = None,
    stripe: Mapping[str, Any] | None = None,
    processes: int = 1,
) -> EvaluationReport:
    """Read the outcomes (events, truth or both), run the baseline on the events, score;
    the events file is read by ``processes`` forked processes."""
    if events is None and truth is None:
        raise EvaluationInputError("outcomes need --events, --truth or both")
    events_file = read_events(events, stripe, processes=processes) if events is not None else None
    history = events_file.history if events_file is not None else None
    outcomes = outcomes_from_events(history) if history is not None else {}
    checked: tuple[int, int] | None = None
    if truth is not None:
        last = history.last_event if history is not None else None
        facts = read_truth(truth)
        checked = None if history is None else disagreements(outcomes, facts)
        outcomes = with_truth(outcomes, facts, last)
    triggers = list(triggers)
    report = evaluate(
        triggers,
        outcomes,
        settings,
        baseline=None if history is None else baseline_alerts(history.accounts, outcomes),
        outcomes_from=" and ".join(
            name for name, path in (("events", events), ("truth", truth)) if path is not None
        ),
        expansions_known=history is not None,
    )
    if events_file is None:
        return report
    return replace(
        report,
        truth_disagreements=checked,
        events=events_file.history.summary(events_file.rejected_lines),
        feedback=feedback_by_rule(events_file.history.feedback, triggers),
    )
