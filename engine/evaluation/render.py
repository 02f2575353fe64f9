"""The report as text a CS leader reads top down (headline table first), and as JSON."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import orjson

from engine.evaluation.churn import ChurnQuality
from engine.evaluation.metrics import EvaluationReport, PersonaCount, RuleRow
from engine.evaluation.model import Distribution

LIFT_TARGET = 3.0
ALERTS_TARGET = 15.0
"""The design's targets for the defaults: lift of 3 or more, at most 15 churn-risk alerts
per 100 accounts per 30 days, and most churn caught 30 days ahead."""


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _num(value: float | None, pattern: str = "{:.1f}") -> str:
    return "-" if value is None else pattern.format(value)


def _table(headers: list[str], rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [indent + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += [
        indent + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return lines


def _met(ok: bool | None) -> str:
    return "" if ok is None else ("yes" if ok else "NO")


def _summary(report: EvaluationReport) -> list[str]:
    people, pulse, base = report.population, report.pulse, report.baseline
    horizon, lead_days = report.settings.horizon_days, report.settings.min_lead_days
    warmup = report.settings.warmup_days
    period = (
        f"{people.period_start:%Y-%m-%d} .. {people.period_end:%Y-%m-%d}, "
        f"{people.period_days:.0f} days"
        if people.period_start and people.period_end
        else "period unknown"
    )
    lines = [
        f"Pulse vs baseline: {people.accounts:,} accounts ({period}; outcomes from "
        f"{report.outcomes_from})",
        f"Paid churn: {people.churned} of {people.accounts:,} accounts (base rate "
        f"{_pct(people.base_rate)}); {people.trial_lapses} trial lapses reported apart. "
        f"Horizon {horizon:.0f} days.",
    ]
    if report.truth_disagreements is not None:
        differ, named = report.truth_disagreements
        if differ * 10 > named:  # more than a tenth
            lines.append(
                f"WARNING: the truth and the events disagree on {differ} of {named} "
                "cancellations (more than a day apart, or one side has none): is the truth "
                "file of this population?"
            )
    if report.events is None and not report.expansions_known:
        lines.append(
            "Without --events the notices of cancellation are unknown: an alert after a "
            "notice counts as a catch here (and as a forecast in lead time); pass --events."
        )
    lines.append("")

    def row(
        label: str,
        cell: Callable[[ChurnQuality], str],
        target: str = "",
        met: bool | None = None,
    ) -> list[str]:
        return [label, cell(pulse), "-" if base is None else cell(base), target, _met(met)]

    def caught(count: int, share: float | None) -> str:
        return f"{_pct(share)} ({count}/{people.churned})"

    per_100 = pulse.alerts_per_100_accounts_30d
    checks = report.integrity
    zero = "-" if base is None else "0"
    rows = [
        row(
            f"Churned accounts caught (alert in the {horizon:.0f} d before)",
            lambda q: caught(q.caught, q.recall),
        ),
        row(
            f"  caught at least {lead_days:.0f} days ahead",
            lambda q: caught(q.caught_ahead, q.recall_ahead),
            "most",
            met=None if pulse.recall_ahead is None else pulse.recall_ahead > 0.5,
        ),
        row(
            f"    of churn watched {warmup + lead_days:.0f}+ days (any rule's reach)",
            lambda q: (
                f"{_pct(q.recall_ahead_watchable)} ({q.caught_ahead_watchable}/{q.watchable_ahead})"
            ),
        ),
        row("  median lead time (days)", lambda q: _num(_median(q.lead_time_days))),
        row(
            "Churned accounts alerted before their subscription ended (save window)",
            lambda q: caught(q.alerted_before_end, q.recall_before_end),
        ),
        row(
            f"  at least {lead_days:.0f} days before it ended",
            lambda q: caught(q.alerted_before_end_ahead, q.recall_before_end_ahead),
        ),
        row("  median days left to act", lambda q: _num(_median(q.days_left_to_act))),
        row(
            f"Retained accounts alerted in their last {horizon:.0f} d (chance)",
            lambda q: _pct(q.chance_horizon),
            "<= recall/2",
            met=_below(pulse.chance_horizon, pulse.recall),
        ),
        row(
            f"  {lead_days:.0f}-{horizon:.0f} d before their end (chance of an early catch)",
            lambda q: _pct(q.chance_ahead),
            "< early catch",
            met=_early_beats_chance(pulse),
        ),
        row(
            f"  in a quarter ({report.settings.quarter_days:.0f} d)",
            lambda q: _pct(q.chance_quarter),
        ),
        row(
            "Precision: alerted accounts that then churned", lambda q: _pct(q.precision_by_account)
        ),
        row("  by alert", lambda q: _pct(q.precision_by_alert)),
        row(
            "Lift (precision / base rate)",
            lambda q: _num(q.lift, "{:.1f}x"),
            f">= {LIFT_TARGET:.0f}x",
            met=None if pulse.lift is None else pulse.lift >= LIFT_TARGET,
        ),
        row(
            "Alerts per 100 accounts per 30 days",
            lambda q: _num(q.alerts_per_100_accounts_30d),
            f"<= {ALERTS_TARGET:.0f}",
            met=None if per_100 is None else per_100 <= ALERTS_TARGET,
        ),
        row(f"Alerts per CSM per week{_csms(people.csms)}", lambda q: _num(q.alerts_per_csm_week)),
        [
            "Triggers on incomplete data",
            str(checks.incomplete),
            zero,
            "0",
            _met(not checks.incomplete),
        ],
        [
            "Churn-risk alerts after cancellation",
            str(checks.churn_after_cancellation),
            zero,
            "0",
            _met(not checks.churn_after_cancellation),
        ],
    ]
    return lines + _table(["", "Pulse", "baseline", "target", "met"], rows, indent="")


def _csms(csms: int | None) -> str:
    return "" if csms is None else f" ({csms} CSMs)"


def _early_beats_chance(quality: ChurnQuality) -> bool | None:
    """Whether alerts catch churn ahead more often than they land on retained accounts
    in the same stretch: otherwise an early catch is what alerting at random gets."""
    if quality.chance_ahead is None or quality.recall_ahead is None:
        return None
    return quality.recall_ahead > quality.chance_ahead


def _below(chance: float | None, recall: float | None) -> bool | None:
    """Chance well below recall: at most half of it."""
    if chance is None or recall is None:
        return None
    return chance <= recall / 2


def _median(lead: Distribution | None) -> float | None:
    return None if lead is None else lead.median


def _outcomes(report: EvaluationReport) -> list[str]:
    people = report.population
    expanded = (
        f"{report.expansion.expanded_accounts} accounts expanded"
        if report.expansions_known
        else "expansions need --events"
    )
    csms = (
        "CSMs unknown (--csms N)"
        if people.csms is None
        else f"{people.csms} CSMs" + ("" if report.settings.csms else " (owners seen; --csms N)")
    )
    lines = [
        "",
        f"Outcomes (from {report.outcomes_from})",
        f"  {people.accounts + people.trial_lapses:,} accounts: paid churn {people.churned}, "
        f"trial lapses {people.trial_lapses}, retained {people.retained} "
        f"(reactivated after cancelling {people.reactivated}); {expanded}",
        f"  observed {people.account_days:,.0f} account-days over {people.period_days:.0f} "
        f"days; {csms}",
    ]
    events = report.events
    if events is not None:
        lines.append(
            f"  events: {events.events:,} on {events.accounts:,} accounts; "
            f"{events.duplicates:,} duplicates, {events.unresolved:,} user-only events never "
            f"linked to an account, {events.rejected_lines:,} lines rejected"
        )
    trials = "  trial lapses with an alert in the horizon before: "
    trials += f"Pulse {report.pulse.trial_lapses_caught}"
    if report.baseline is not None:
        trials += f", baseline {report.baseline.trial_lapses_caught}"
    return [*lines, trials + f" of {people.trial_lapses}"]


def _lead(name: str, quality: ChurnQuality) -> list[str]:
    lead = quality.lead_time_days
    if lead is None:
        return [f"  {name}: no churned account caught"]
    buckets = ", ".join(f"{k}: {v}" for k, v in lead.histogram.items())
    return [
        f"  {name}: median {lead.median:.1f}, quartiles {lead.q1:.1f} / {lead.q3:.1f}, "
        f"min {lead.minimum:.1f}, max {lead.maximum:.1f}",
        f"    {buckets}",
    ]


def _rules(title: str, rows: list[RuleRow]) -> list[str]:
    if not rows:
        return []
    headers = ["rule", "kind", "fires", "accounts", "churn caught", "trials", "precision", "lift"]
    headers += ["median lead", "/100/30d", "incomplete", "after cancel", "after notice"]
    return [
        "",
        title,
        *_table(
            headers,
            [
                [
                    r.rule_id,
                    r.kind,
                    str(r.fires),
                    str(r.accounts),
                    _num(r.caught, "{}"),
                    _num(r.trial_lapses_caught, "{}"),
                    _pct(r.precision),
                    _num(r.lift, "{:.1f}x"),
                    _num(r.median_lead_days),
                    _num(r.alerts_per_100_accounts_30d),
                    str(r.incomplete),
                    str(r.after_cancellation),
                    str(r.after_notice),
                ]
                for r in rows
            ],
        ),
    ]


def _feedback(report: EvaluationReport) -> list[str]:
    if not report.feedback:
        return []
    rows = [
        [
            r.rule_id,
            str(r.answered),
            str(r.useful),
            str(r.dismissed),
            str(r.acknowledged),
            _pct(r.precision),
        ]
        for r in report.feedback
    ]
    headers = ["rule", "answered", "useful", "dismissed", "acknowledged", "precision"]
    return [
        "",
        "CSM feedback (the commands in the events; a trigger's latest verdict counts)",
        *_table(headers, rows),
    ]


def _opportunities(report: EvaluationReport) -> list[str]:
    settings, exp, adv = report.settings, report.expansion, report.advocacy
    lines = ["", f"Expansion: {exp.triggers} triggers on {exp.accounts} accounts"]
    if report.expansions_known:
        lines.append(
            f"  precision by account {_pct(exp.precision_by_account)} (expanded within "
            f"{settings.expansion_days:.0f} d after), by trigger {_pct(exp.precision_by_trigger)}; "
            f"base rate {_pct(exp.base_rate)}, lift {_num(exp.lift, '{:.1f}x')}; "
            f"expansions foreseen {_pct(exp.recall)} of {exp.expanded_accounts}"
        )
    else:
        lines.append("  precision needs the billing history: pass --events")
    lines += [
        f"Advocacy: {adv.triggers} triggers on {adv.accounts} accounts",
        f"  precision by account {_pct(adv.precision_by_account)}, by trigger "
        f"{_pct(adv.precision_by_trigger)} (no cancellation within "
        f"{settings.advocacy_cancel_days:.0f} d after, no churn-risk alert within "
        f"{settings.advocacy_churn_alert_days:.0f} d either side); wrong: "
        f"{adv.cancelled_after} followed by cancellation, {adv.churn_alert_near} next to a "
        "churn-risk alert",
        f"  chance {_pct(adv.chance)} (the same judgement of an ask of every account every "
        f"week), lift by trigger {_num(adv.lift, '{:.2f}x')}",
    ]
    if report.workload is not None:
        each = ", ".join(f"{kind.replace('_', ' ')} {n:.1f}" for kind, n in report.workload.items())
        lines.append(
            f"Every trigger sent, per CSM per week{_csms(report.population.csms)}: {each}; "
            f"{sum(report.workload.values()):.1f} in all"
        )
    return lines


def _integrity(report: EvaluationReport) -> list[str]:
    checks = report.integrity
    lines = ["", "Must be 0", f"  triggers on incomplete data: {checks.incomplete}"]
    lines += [f"    {reason}: {n}" for reason, n in checks.incomplete_by_reason.items()]
    lines += [f"    {rule}: {n}" for rule, n in checks.incomplete_by_rule.items()]
    lines.append(f"  churn-risk triggers after cancellation: {checks.churn_after_cancellation}")
    lines += [f"    {rule}: {n}" for rule, n in checks.after_cancellation_by_rule.items()]
    if checks.churn_after_notice:
        lines.append(
            "  churn-risk triggers while a cancellation notice stood, before it took effect "
            f"or was withdrawn (not errors, not catches): {checks.churn_after_notice}"
        )
        lines += [f"    {rule}: {n}" for rule, n in checks.after_notice_by_rule.items()]
    return lines


def _personas(report: EvaluationReport) -> list[str]:
    personas = report.personas
    if personas is None:
        return []
    sections: tuple[tuple[str, list[PersonaCount]], ...] = (
        ("Churn-risk triggers on accounts that did not cancel", personas.churn_risk_on_retained),
        ("Expansion triggers", personas.expansion),
        ("Advocacy triggers", personas.advocacy),
    )
    lines = ["", "Per persona (truth)"]
    if personas.churn_caught:
        horizon, lead = report.settings.horizon_days, report.settings.min_lead_days
        lines += [f"  Paid churn caught (an alert in the {horizon:g} d before)"]
        lines += _table(
            ["persona", "churned", "caught", f"{lead:g}+ d ahead", "before the end"],
            [
                [
                    c.persona,
                    str(c.churned),
                    str(c.caught),
                    str(c.caught_ahead),
                    str(c.alerted_before_end),
                ]
                for c in personas.churn_caught
            ],
            indent="    ",
        )
    for title, counts in sections:
        lines += [f"  {title}"]
        lines += _table(
            ["persona", "accounts", "with triggers", "triggers"],
            [
                [c.persona, str(c.accounts), str(c.accounts_with_triggers), str(c.triggers)]
                for c in counts
            ],
            indent="    ",
        )
    return lines


def render(report: EvaluationReport) -> str:
    """Headline table, then outcomes, lead times, rules, opportunities and checks."""
    lines = _summary(report) + _outcomes(report)
    lines += ["", "Lead time (days, first alert in the horizon to cancellation)"]
    lines += _lead("Pulse", report.pulse)
    if report.baseline is not None:
        lines += _lead("baseline", report.baseline)
    lines += _rules("Pulse rules", report.rules)
    lines += _rules("Baseline rules (an analyst's three)", report.baseline_rules)
    lines += _opportunities(report) + _feedback(report) + _integrity(report) + _personas(report)
    lines += ["", f"Revisions (counted apart): {report.revisions}"]
    lines += [f"  {rule}: {n}" for rule, n in report.revisions_by_rule.items()]
    if report.unknown_account_triggers:
        lines.append(f"Triggers on accounts without outcomes: {report.unknown_account_triggers}")
    lines.append("Definitions: docs/evaluation.md")
    return "\n".join(lines)


def report_json(report: EvaluationReport) -> bytes:
    document: dict[str, Any] = asdict(report)
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_UTC_Z)
