"""Were the expansion and advocacy triggers right? Judged by what the account did next.

- Expansion: right when the account expanded (seats or MRR up, see outcomes) within 90
  days after the trigger.
- Advocacy: right when the account had not cancelled by 90 days after it and had no
  churn-risk trigger within 30 days either side of it: never ask an account at risk.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.evaluation.model import EvaluationSettings, Outcome, ratio
from topics.models import Trigger


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
    cancelled_after = churn_near = right = 0
    wrong_accounts: set[str] = set()
    for ask in asks:
        cancelled = outcomes[ask.account_id].cancelled_at
        cancels = cancelled is not None and cancelled <= ask.fired_at + cancel_window
        at_risk = any(abs(t - ask.fired_at) <= near for t in churn[ask.account_id])
        cancelled_after += cancels
        churn_near += at_risk
        if cancels or at_risk:
            wrong_accounts.add(ask.account_id)
        else:
            right += 1
    accounts = {ask.account_id for ask in asks}
    return AdvocacyQuality(
        triggers=len(asks),
        accounts=len(accounts),
        cancelled_after=cancelled_after,
        churn_alert_near=churn_near,
        precision_by_trigger=ratio(right, len(asks)),
        precision_by_account=ratio(len(accounts - wrong_accounts), len(accounts)),
    )
