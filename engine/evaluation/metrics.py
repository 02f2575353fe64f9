"""The evaluation report: Pulse's triggers and the baseline's alerts scored on the same outcomes.

Pure: triggers, outcomes and baseline alerts in, numbers out. Revisions (triggers with
``revision_of``) re-state a trigger already counted, so they are counted apart and
never add to anything else; triggers on accounts the outcomes do not know are counted
apart too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import get_args

from engine.evaluation.churn import ChurnQuality, Population, churn_quality, population
from engine.evaluation.feedback import FeedbackRow
from engine.evaluation.history import EventsRead
from engine.evaluation.integrity import Integrity, incomplete_reasons, integrity
from engine.evaluation.model import Alert, EvaluationSettings, Outcome
from engine.evaluation.opportunities import (
    AdvocacyQuality,
    ExpansionQuality,
    advocacy_quality,
    expansion_quality,
)
from signals.rules.model import Kind
from topics.models import Trigger


@dataclass(frozen=True)
class RuleRow:
    rule_id: str
    kind: str
    fires: int
    accounts: int
    caught: int | None
    """Churn risk: churned accounts this rule alerted in the horizon before they cancelled."""
    trial_lapses_caught: int | None
    """Churn risk: trial lapses this rule alerted in the horizon before they lapsed."""
    precision: float | None
    """By account, as defined for the rule's kind (churn risk, expansion or advocacy)."""
    lift: float | None
    median_lead_days: float | None
    alerts_per_100_accounts_30d: float | None
    incomplete: int
    after_cancellation: int
    after_notice: int
    """Churn risk: fired after the account gave notice of a scheduled cancellation."""


@dataclass(frozen=True)
class PersonaCount:
    """Triggers of one kind on one persona's accounts."""

    persona: str
    accounts: int
    """Accounts of the persona considered (for churn risk: those that did not cancel)."""
    accounts_with_triggers: int
    triggers: int


@dataclass(frozen=True)
class PersonaChurn:
    """How one persona's paid churn was caught: the headline's catches, persona by persona."""

    persona: str
    churned: int
    caught: int
    caught_ahead: int
    """Caught at least ``min_lead_days`` before the cancellation."""
    alerted_before_end: int
    """Alerted before the subscription ended (the save window, notices included)."""


@dataclass(frozen=True)
class Personas:
    churn_risk_on_retained: list[PersonaCount]
    expansion: list[PersonaCount]
    advocacy: list[PersonaCount]
    churn_caught: list[PersonaChurn] = field(default_factory=list)
    """Personas with paid churn: which kinds of churn the alerts reach, and how early."""


@dataclass(frozen=True)
class EvaluationReport:
    settings: EvaluationSettings
    outcomes_from: str
    """Where cancellations came from: "events", "truth" or "events and truth"."""
    population: Population
    pulse: ChurnQuality
    baseline: ChurnQuality | None
    """None without events: the baseline runs on the events."""
    rules: list[RuleRow]
    baseline_rules: list[RuleRow]
    expansion: ExpansionQuality
    expansions_known: bool
    """False when outcomes came from a truth file alone, which has no billing history."""
    advocacy: AdvocacyQuality
    integrity: Integrity
    personas: Personas | None
    revisions: int
    revisions_by_rule: dict[str, int]
    unknown_account_triggers: int
    events: EventsRead | None = None
    """How the events file read, when outcomes came from one."""
    truth_disagreements: tuple[int, int] | None = None
    """With both events and a truth: (cancellations they disagree on, cancellations
    either names), ``outcomes.disagreements``."""
    feedback: list[FeedbackRow] = field(default_factory=list)
    """CSM feedback per rule, when the events hold the commands topic."""
    workload: dict[str, float] | None = None
    """Triggers sent per CSM per week, by kind: every trigger is a CSM's to act on, not
    only the churn-risk ones. None when the CSMs or the period are unknown."""


def evaluate(
    triggers: Iterable[Trigger],
    outcomes: Mapping[str, Outcome],
    settings: EvaluationSettings | None = None,
    *,
    baseline: Sequence[Alert] | None = None,
    outcomes_from: str = "events",
    expansions_known: bool = True,
) -> EvaluationReport:
    """Score triggers (and the baseline's alerts, when given) against what happened."""
    settings = settings or EvaluationSettings()
    fired: list[Trigger] = []
    revisions: dict[str, int] = defaultdict(int)
    unknown = 0
    for trigger in triggers:
        if trigger.account_id not in outcomes:
            unknown += 1
        elif trigger.revision_of is not None:
            revisions[trigger.rule_id] += 1
        else:
            fired.append(trigger)
    csms = settings.csms or _csm_count(fired, outcomes)
    people = population(outcomes, csms)
    checked = integrity(fired, outcomes)
    by_rule: dict[str, list[Trigger]] = defaultdict(list)
    for trigger in fired:
        by_rule[trigger.rule_id].append(trigger)
    baseline_by_rule: dict[str, list[Alert]] = defaultdict(list)
    for alert in baseline or ():
        baseline_by_rule[alert.rule_id].append(alert)
    rules = _Rules(outcomes, people, settings, checked, expansions_known)
    personas = all(o.persona is not None for o in outcomes.values()) and bool(outcomes)
    return EvaluationReport(
        settings=settings,
        outcomes_from=outcomes_from,
        population=people,
        pulse=churn_quality(map(Alert.of, fired), outcomes, people, settings),
        baseline=(
            None if baseline is None else churn_quality(baseline, outcomes, people, settings)
        ),
        rules=[rules.row(rule, ts) for rule, ts in sorted(by_rule.items())],
        baseline_rules=[
            rules.churn_row(rule, alerts) for rule, alerts in sorted(baseline_by_rule.items())
        ],
        expansion=expansion_quality(fired, outcomes, settings),
        expansions_known=expansions_known,
        advocacy=advocacy_quality(fired, outcomes, settings),
        integrity=checked,
        personas=_personas(fired, outcomes, settings) if personas else None,
        revisions=sum(revisions.values()),
        revisions_by_rule=dict(sorted(revisions.items())),
        unknown_account_triggers=unknown,
        workload=_workload(fired, people),
    )


def _workload(fired: Sequence[Trigger], people: Population) -> dict[str, float] | None:
    """Triggers per CSM per week of every kind, as the CSMs receive them (trial accounts
    included: a trial's trigger takes a CSM's time too)."""
    weeks = people.period_days / 7
    if not people.csms or not weeks:
        return None
    sent: dict[str, int] = dict.fromkeys(get_args(Kind), 0)
    for trigger in fired:
        sent[trigger.kind] = sent.get(trigger.kind, 0) + 1
    return {kind: n / people.csms / weeks for kind, n in sent.items()}


def _csm_count(triggers: Sequence[Trigger], outcomes: Mapping[str, Outcome]) -> int | None:
    owners = {o.csm_owner for o in outcomes.values() if o.csm_owner is not None}
    owners |= {t.csm_owner for t in triggers if t.csm_owner is not None}
    return len(owners) or None


@dataclass(frozen=True)
class _Rules:
    """Scores one rule's firings against the same outcomes as the whole set."""

    outcomes: Mapping[str, Outcome]
    people: Population
    settings: EvaluationSettings
    checked: Integrity
    expansions_known: bool = True
    """False without the billing history: expansion rules have no precision then."""

    def churn_row(self, rule: str, alerts: Sequence[Alert], incomplete: int = 0) -> RuleRow:
        quality = churn_quality(alerts, self.outcomes, self.people, self.settings)
        lead = quality.lead_time_days
        return RuleRow(
            rule_id=rule,
            kind="churn_risk",
            fires=len(alerts),
            accounts=len({a.account_id for a in alerts}),
            caught=quality.caught,
            trial_lapses_caught=quality.trial_lapses_caught,
            precision=quality.precision_by_account,
            lift=quality.lift,
            median_lead_days=None if lead is None else lead.median,
            alerts_per_100_accounts_30d=quality.alerts_per_100_accounts_30d,
            incomplete=incomplete,
            after_cancellation=self.checked.after_cancellation_by_rule.get(rule, 0),
            after_notice=self.checked.after_notice_by_rule.get(rule, 0),
        )

    def row(self, rule: str, triggers: Sequence[Trigger]) -> RuleRow:
        alerts = [Alert.of(t) for t in triggers]
        incomplete = sum(1 for t in triggers if incomplete_reasons(t))
        kind = triggers[0].kind
        if kind == "churn_risk":
            return self.churn_row(rule, alerts, incomplete)
        precision: float | None
        lift: float | None = None
        if kind == "expansion":
            expansion = expansion_quality(triggers, self.outcomes, self.settings)
            precision, lift = expansion.precision_by_account, expansion.lift
            if not self.expansions_known:
                precision = lift = None
        else:
            advocacy = advocacy_quality(triggers, self.outcomes, self.settings)
            precision = advocacy.precision_by_account
        on_paid = sum(1 for a in alerts if not self.outcomes[a.account_id].trial_lapse)
        days = self.people.account_days
        return RuleRow(
            rule_id=rule,
            kind=kind,
            fires=len(triggers),
            accounts=len({t.account_id for t in triggers}),
            caught=None,
            trial_lapses_caught=None,
            precision=precision,
            lift=lift,
            median_lead_days=None,
            alerts_per_100_accounts_30d=on_paid / days * 100 * 30 if days else None,
            incomplete=incomplete,
            after_cancellation=0,
            after_notice=0,
        )


def _per_persona(
    triggers: Sequence[Trigger], outcomes: Mapping[str, Outcome], considered: Iterable[str]
) -> list[PersonaCount]:
    accounts: dict[str, set[str]] = defaultdict(set)
    for account_id in considered:
        accounts[outcomes[account_id].persona or "-"].add(account_id)
    fired_on: dict[str, set[str]] = defaultdict(set)
    fires: dict[str, int] = defaultdict(int)
    for trigger in triggers:
        persona = outcomes[trigger.account_id].persona or "-"
        fired_on[persona].add(trigger.account_id)
        fires[persona] += 1
    return [
        PersonaCount(persona, len(accounts[persona]), len(fired_on[persona]), fires[persona])
        for persona in sorted(set(accounts) | set(fires))
    ]


def _churn_by_persona(
    triggers: Sequence[Trigger], outcomes: Mapping[str, Outcome], settings: EvaluationSettings
) -> list[PersonaChurn]:
    """``churn_quality`` on each persona's accounts alone: the same catches, split."""
    alerts = [Alert.of(t) for t in triggers if t.kind == "churn_risk"]
    by_persona: dict[str, dict[str, Outcome]] = defaultdict(dict)
    for account_id, outcome in outcomes.items():
        by_persona[outcome.persona or "-"][account_id] = outcome
    rows = []
    for persona, accounts in sorted(by_persona.items()):
        people = population(accounts, None)
        if not people.churned:
            continue
        quality = churn_quality(alerts, accounts, people, settings)
        rows.append(
            PersonaChurn(
                persona,
                people.churned,
                quality.caught,
                quality.caught_ahead,
                quality.alerted_before_end,
            )
        )
    return rows


def _personas(
    triggers: Sequence[Trigger], outcomes: Mapping[str, Outcome], settings: EvaluationSettings
) -> Personas:
    retained = [a for a, o in outcomes.items() if o.cancelled_at is None]
    on_retained = [
        t
        for t in triggers
        if t.kind == "churn_risk" and outcomes[t.account_id].cancelled_at is None
    ]
    return Personas(
        churn_risk_on_retained=_per_persona(on_retained, outcomes, retained),
        expansion=_per_persona([t for t in triggers if t.kind == "expansion"], outcomes, outcomes),
        advocacy=_per_persona([t for t in triggers if t.kind == "advocacy"], outcomes, outcomes),
        churn_caught=_churn_by_persona(triggers, outcomes, settings),
    )
