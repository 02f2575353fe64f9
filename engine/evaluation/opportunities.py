"""Were the expansion and advocacy triggers right? Judged by what the account did next.

- Expansion: right when the account expanded (seats or MRR up, see outcomes) within 90
  days after the trigger.
- Advocacy: right when the account had not cancelled by 90 days after it and had no
  churn-risk trigger within 30 days either side of it: never ask an account at risk.
  Most accounts stay, so most asks are right by that measure even at random: the
  chance is the same judgement applied to an ask of every observed account every week
  (CHANCE_STEP), and the lift is the precision by trigger over it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.evaluation.model import EvaluationSettings, Outcome, ratio
from topics.models import Trigger

CHANCE_STEP = timedelta(days=7)
"""How often a pretend ask is made of every observed account, for the advocacy chance."""


@dataclass(frozen=True)
class ExpansionQuality:
    triggers: int
    accounts: int
    """Accounts with an expansion trigger."""
    expanded_accounts: int
    """Accounts with an expansion in the data, triggered or not."""
    precision_by_trigger: float | None
    precision_by_account: float | None
    """Triggered accounts that expanded within the window after one of their triggers."""
    base_rate: float | None
    lift: float | None
    recall: float | None
    """Expanded accounts with an expansion trigger in the window before their first expansion."""


@dataclass(frozen=True)
class AdvocacyQuality:
    triggers: int
    accounts: int
    cancelled_after: int
    """Triggers followed by the account's cancellation within the window."""
    churn_alert_near: int
    """Triggers with a churn-risk trigger on the account within the window either side."""
    precision_by_trigger: float | None
    precision_by_account: float | None
    """Triggered accounts all of whose advocacy triggers were right."""
    chance: float | None = None
    """Share of right asks had every observed account been asked every week."""
    lift: float | None = None
    """Precision by trigger over the chance."""


def expansion_quality(
    triggers: Iterable[Trigger], outcomes: Mapping[str, Outcome], settings: EvaluationSettings
) -> ExpansionQuality:
    window = timedelta(days=settings.expansion_days)
    fired: dict[str, list[datetime]] = defaultdict(list)
    for trigger in triggers:
        if trigger.kind == "expansion" and trigger.account_id in outcomes:
            fired[trigger.account_id].append(trigger.fired_at)
    hits = accounts_hit = 0
    for account, times in fired.items():
        expansions = outcomes[account].expansions
        right = [t for t in times if any(t < x <= t + window for x in expansions)]
        hits += len(right)
        accounts_hit += bool(right)
    expanded = [a for a, o in outcomes.items() if o.expansions]
    foreseen = sum(
        1
        for account in expanded
        for x in outcomes[account].expansions[:1]
        if any(x - window <= t < x for t in fired.get(account, []))
    )
    precision = ratio(accounts_hit, len(fired))
    base_rate = ratio(len(expanded), len(outcomes))
    return ExpansionQuality(
        triggers=sum(len(t) for t in fired.values()),
        accounts=len(fired),
        expanded_accounts=len(expanded),
        precision_by_trigger=ratio(hits, sum(len(t) for t in fired.values())),
        precision_by_account=precision,
        base_rate=base_rate,
        lift=None if precision is None or not base_rate else precision / base_rate,
        recall=ratio(foreseen, len(expanded)),
    )


def advocacy_quality(
    triggers: Iterable[Trigger], outcomes: Mapping[str, Outcome], settings: EvaluationSettings
) -> AdvocacyQuality:
    cancel_window = timedelta(days=settings.advocacy_cancel_days)
    near = timedelta(days=settings.advocacy_churn_alert_days)
    asks: list[Trigger] = []
    churn: dict[str, list[datetime]] = defaultdict(list)
    for trigger in triggers:
        if trigger.account_id not in outcomes:
            continue
        if trigger.kind == "advocacy":
            asks.append(trigger)
        elif trigger.kind == "churn_risk":
            churn[trigger.account_id].append(trigger.fired_at)

    def judge(account: str, at: datetime) -> tuple[bool, bool]:
        """(cancels within the window after ``at``, a churn-risk alert near it)."""
        cancelled = outcomes[account].cancelled_at
        cancels = cancelled is not None and cancelled <= at + cancel_window
        return cancels, any(abs(t - at) <= near for t in churn[account])

    cancelled_after = churn_near = right = 0
    wrong_accounts: set[str] = set()
    for ask in asks:
        cancels, at_risk = judge(ask.account_id, ask.fired_at)
        cancelled_after += cancels
        churn_near += at_risk
        if cancels or at_risk:
            wrong_accounts.add(ask.account_id)
        else:
            right += 1
    accounts = {ask.account_id for ask in asks}
    by_chance = [not any(judge(a, at)) for a, at in _weekly_asks(outcomes)]
    chance = ratio(sum(by_chance), len(by_chance))
    precision = ratio(right, len(asks))
    return AdvocacyQuality(
        triggers=len(asks),
        accounts=len(accounts),
        cancelled_after=cancelled_after,
        churn_alert_near=churn_near,
        precision_by_trigger=precision,
        precision_by_account=ratio(len(accounts - wrong_accounts), len(accounts)),
        chance=chance,
        lift=None if precision is None or not chance else precision / chance,
    )


def _weekly_asks(outcomes: Mapping[str, Outcome]) -> Iterable[tuple[str, datetime]]:
    """Every observed account at its first event and every CHANCE_STEP after, while
    observed."""
    for account, outcome in sorted(outcomes.items()):
        start, until = outcome.observed_from, outcome.observed_until
        if start is None or until is None:
            continue
        at = start
        while at <= until:
            yield account, at
            at += CHANCE_STEP
