"""`pulse evaluate`: score fired triggers against ground truth, the numbers a CS leader asks for.

How many churned accounts had a churn-risk trigger first, and how many days
ahead; how many churn-risk triggers fell on accounts that did not churn; what
expansion and advocacy fired on each persona; and the same per rule. Revisions
(triggers with ``revision_of``) re-state a trigger already counted, so they are
counted apart and never add to recall.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from topics.models import Trigger

LEAD_TIME_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("<1d", 0, 1),
    ("1-7d", 1, 7),
    ("7-14d", 7, 14),
    ("14-30d", 14, 30),
    ("30-60d", 30, 60),
    (">=60d", 60, float("inf")),
)
_TRIGGER_TOPICS = frozenset({"triggers.churn-risk", "triggers.expansion", "triggers.advocacy"})
_DAY_SECONDS = 86_400


class EvaluationInputError(ValueError):
    """A triggers or truth file that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Outcome:
    """What happened to an account: its persona and when it cancelled, if it did."""

    persona: str
    cancelled_at: datetime | None


@dataclass(frozen=True)
class Distribution:
    count: int
    minimum: float
    q1: float
    median: float
    q3: float
    maximum: float
    histogram: dict[str, int]


@dataclass(frozen=True)
class PersonaCount:
    """Triggers of one kind on one persona's accounts."""

    persona: str
    accounts: int
    """Accounts of the persona considered (for churn risk: those that did not cancel)."""
    accounts_with_triggers: int
    triggers: int


@dataclass(frozen=True)
class RuleRow:
    rule_id: str
    kind: str
    fires: int
    accounts: int
    fires_on_cancelled: int
    """Fires before cancellation on accounts that then cancelled."""
    precision: float | None
    """Share of the accounts it fired on that cancelled after its first fire (churn risk only)."""
    median_lead_days: float | None


@dataclass(frozen=True)
class EvaluationReport:
    cancelled_accounts: int
    caught_accounts: int
    """Cancelled accounts with a churn-risk trigger before they cancelled."""
    recall: float | None
    lead_time_days: Distribution | None
    """From each caught account's first churn-risk trigger to its cancellation."""
    churn_risk_after_cancellation: int
    churn_risk_on_retained: list[PersonaCount]
    expansion: list[PersonaCount]
    advocacy: list[PersonaCount]
    rules: list[RuleRow]
    revisions: int
    revisions_by_rule: dict[str, int]
    unknown_account_triggers: int
    """Triggers on accounts the truth does not know (excluded from everything else)."""


def distribution(values: list[float]) -> Distribution | None:
    """Quartiles (inclusive method), extremes and lead-time buckets; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        q1 = median = q3 = ordered[0]
    else:
        q1, median, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    histogram = {
        label: sum(1 for v in ordered if low <= v < high) for label, low, high in LEAD_TIME_BUCKETS
    }
    return Distribution(len(ordered), ordered[0], q1, median, q3, ordered[-1], histogram)


def _days(earlier: datetime, later: datetime) -> float:
    return (later - earlier).total_seconds() / _DAY_SECONDS


def _per_persona(
    triggers: list[Trigger], outcomes: Mapping[str, Outcome], considered: Iterable[str]
) -> list[PersonaCount]:
    accounts: dict[str, set[str]] = defaultdict(set)
    for account_id in considered:
        accounts[outcomes[account_id].persona].add(account_id)
    fired_on: dict[str, set[str]] = defaultdict(set)
    fires: dict[str, int] = defaultdict(int)
    for trigger in triggers:
        persona = outcomes[trigger.account_id].persona
        fired_on[persona].add(trigger.account_id)
        fires[persona] += 1
    return [
        PersonaCount(persona, len(accounts[persona]), len(fired_on[persona]), fires[persona])
        for persona in sorted(set(accounts) | set(fires))
    ]


def _rule_row(rule_id: str, fired: list[Trigger], outcomes: Mapping[str, Outcome]) -> RuleRow:
    first: dict[str, datetime] = {}
    for trigger in fired:
        at = first.get(trigger.account_id)
        first[trigger.account_id] = trigger.fired_at if at is None else min(at, trigger.fired_at)
    kind = fired[0].kind
    before_cancel = 0
    leads: list[float] = []
    for trigger in fired:
        cancelled_at = outcomes[trigger.account_id].cancelled_at
        if cancelled_at is not None and trigger.fired_at < cancelled_at:
            before_cancel += 1
    for account_id, at in first.items():
        cancelled_at = outcomes[account_id].cancelled_at
        if cancelled_at is not None and at < cancelled_at:
            leads.append(_days(at, cancelled_at))
    precision = len(leads) / len(first) if kind == "churn_risk" else None
    return RuleRow(
        rule_id=rule_id,
        kind=kind,
        fires=len(fired),
        accounts=len(first),
        fires_on_cancelled=before_cancel,
        precision=precision,
        median_lead_days=statistics.median(leads) if leads else None,
    )


def evaluate(triggers: Iterable[Trigger], truth: Mapping[str, Outcome]) -> EvaluationReport:
    """Score triggers against what really happened to each account."""
    known: list[Trigger] = []
    revisions: dict[str, int] = defaultdict(int)
    unknown = 0
    for trigger in triggers:
        if trigger.account_id not in truth:
            unknown += 1
        elif trigger.revision_of is not None:
            revisions[trigger.rule_id] += 1
        else:
            known.append(trigger)
    churn = [t for t in known if t.kind == "churn_risk"]
    first_warning: dict[str, datetime] = {}
    after_cancellation = 0
    for trigger in churn:
        cancelled_at = truth[trigger.account_id].cancelled_at
        if cancelled_at is not None and trigger.fired_at >= cancelled_at:
            after_cancellation += 1
            continue
        at = first_warning.get(trigger.account_id)
        first_warning[trigger.account_id] = (
            trigger.fired_at if at is None else min(at, trigger.fired_at)
        )
    cancelled = {a: o.cancelled_at for a, o in truth.items() if o.cancelled_at is not None}
    leads = [_days(first_warning[a], at) for a, at in cancelled.items() if a in first_warning]
    retained = [a for a, o in truth.items() if o.cancelled_at is None]
    by_rule: dict[str, list[Trigger]] = defaultdict(list)
    for trigger in known:
        by_rule[trigger.rule_id].append(trigger)
    return EvaluationReport(
        cancelled_accounts=len(cancelled),
        caught_accounts=len(leads),
        recall=len(leads) / len(cancelled) if cancelled else None,
        lead_time_days=distribution(leads),
        churn_risk_after_cancellation=after_cancellation,
        churn_risk_on_retained=_per_persona(
            [t for t in churn if truth[t.account_id].cancelled_at is None], truth, retained
        ),
        expansion=_per_persona([t for t in known if t.kind == "expansion"], truth, truth),
        advocacy=_per_persona([t for t in known if t.kind == "advocacy"], truth, truth),
        rules=[_rule_row(rule, fired, truth) for rule, fired in sorted(by_rule.items())],
        revisions=sum(revisions.values()),
        revisions_by_rule=dict(sorted(revisions.items())),
        unknown_account_triggers=unknown,
    )


# -- files ----------------------------------------------------------------------------------


def read_triggers(path: Path) -> Iterator[Trigger]:
    """Triggers from JSON lines: bare triggers or replay lines on a trigger topic.

    Other messages a replay file may hold (health snapshots, dead letters) are skipped.
    """
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                message = orjson.loads(line)
                if isinstance(message, dict) and "topic" in message and "value" in message:
                    if message["topic"] not in _TRIGGER_TOPICS:
                        continue
                    message = message["value"]
                if isinstance(message, dict) and message.get("type", "trigger") != "trigger":
                    continue
                yield Trigger.model_validate(message)
            except (orjson.JSONDecodeError, ValidationError) as exc:
                msg = f"{path}:{number}: not a trigger: {exc}"
                raise EvaluationInputError(msg) from None


def read_truth(path: Path) -> dict[str, Outcome]:
    """The ground truth written by `pulse simulate --truth`."""
    try:
        accounts = orjson.loads(path.read_bytes())["accounts"]
        return {
            account_id: Outcome(
                persona=str(facts["persona"]),
                cancelled_at=(
                    None
                    if facts["cancelled_at"] is None
                    else datetime.fromisoformat(facts["cancelled_at"])
                ),
            )
            for account_id, facts in accounts.items()
        }
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        msg = f"{path}: not a truth file from `pulse simulate --truth`: {exc!r}"
        raise EvaluationInputError(msg) from None


# -- output ---------------------------------------------------------------------------------


def _fmt(value: float | None, pattern: str = "{:.1f}") -> str:
    return "-" if value is None else pattern.format(value)


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return lines


def render(report: EvaluationReport) -> str:
    """The report as readable tables."""
    recall = _fmt(report.recall, "{:.1%}")
    lines = [
        f"Cancelled accounts: {report.cancelled_accounts}; with a churn-risk trigger first: "
        f"{report.caught_accounts} (recall {recall})",
    ]
    lead = report.lead_time_days
    if lead is not None:
        lines.append(
            f"Lead time (days): median {lead.median:.1f}, quartiles {lead.q1:.1f} / {lead.q3:.1f}, "
            f"min {lead.minimum:.1f}, max {lead.maximum:.1f}"
        )
        lines.append("  " + ", ".join(f"{k}: {v}" for k, v in lead.histogram.items()))
    lines.append(f"Churn-risk triggers after cancellation: {report.churn_risk_after_cancellation}")
    sections = (
        ("Churn-risk triggers on accounts that did not cancel", report.churn_risk_on_retained),
        ("Expansion triggers", report.expansion),
        ("Advocacy triggers", report.advocacy),
    )
    for title, counts in sections:
        lines += ["", title]
        lines += _table(
            ["persona", "accounts", "with triggers", "triggers"],
            [
                [c.persona, str(c.accounts), str(c.accounts_with_triggers), str(c.triggers)]
                for c in counts
            ],
        )
    lines += ["", "Rules"]
    lines += _table(
        ["rule", "kind", "fires", "accounts", "on cancelled", "precision", "median lead (d)"],
        [
            [
                r.rule_id,
                r.kind,
                str(r.fires),
                str(r.accounts),
                str(r.fires_on_cancelled),
                _fmt(r.precision, "{:.1%}"),
                _fmt(r.median_lead_days),
            ]
            for r in report.rules
        ],
    )
    lines += ["", f"Revisions (counted apart): {report.revisions}"]
    lines += [f"  {rule}: {n}" for rule, n in report.revisions_by_rule.items()]
    if report.unknown_account_triggers:
        lines.append(
            f"Triggers on accounts missing from the truth: {report.unknown_account_triggers}"
        )
    return "\n".join(lines)


def report_json(report: EvaluationReport) -> bytes:
    document: dict[str, Any] = asdict(report)
    return orjson.dumps(document, option=orjson.OPT_INDENT_2)


def _command(args: argparse.Namespace) -> int:
    try:
        report = evaluate(read_triggers(args.triggers), read_truth(args.truth))
    except (OSError, EvaluationInputError) as exc:
        print(f"pulse evaluate: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.buffer.write(report_json(report) + b"\n")
    else:
        print(render(report))
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "evaluate",
        help="score triggers against ground truth (recall, lead time, false alarms)",
        description="Compare triggers (JSON lines, as `pulse replay --out` writes them or the "
        "trigger topics carry them) with the truth file of `pulse simulate --truth`.",
    )
    parser.add_argument("--triggers", type=Path, required=True, help="triggers, JSON lines")
    parser.add_argument("--truth", type=Path, required=True, help="truth file (JSON)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=_command)
