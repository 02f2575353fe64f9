"""Running a sweep: one replay scores every setting, then each is evaluated apart.

Every variant of the swept rule runs in the same replay under its own id, with the
one-conversation rule off; each setting's churn-risk alerts are then the other rules'
plus its variant's, passed through the same conversation rule the core applies
(``signals.conversation``). A joined reason moves a rule's gate exactly as a sent one
does, so the churn-risk alerts of every setting are those its own replay would give.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from engine.evaluation.churn import ChurnQuality, Population, churn_quality
from engine.evaluation.model import Alert, EvaluationSettings, Outcome
from engine.replay_processes import replay_in_processes
from engine.tune.variants import Setting
from signals import conversation
from signals.config import SignalsConfig
from signals.rules import RuleSet
from signals.state import SEVERITIES, micros
from topics.models import InputEvent, Trigger


@dataclass(frozen=True)
class Row:
    setting: Setting
    quality: ChurnQuality


def conversations(
    triggers: Iterable[Trigger], window: timedelta, order: Mapping[str, int]
) -> list[Trigger]:
    """The churn-risk triggers a CSM would be sent: one conversation per account.

    Triggers of one instant are admitted in ``order`` (rule id -> its place in the rule
    set), the order in which the core evaluates them: the first opens the conversation,
    a later one joins it unless its severity is higher."""
    window_us = window // timedelta(microseconds=1)
    open_: dict[str, conversation.Conversation] = defaultdict(conversation.Conversation)
    sent = []
    ranked = sorted(triggers, key=lambda t: (t.fired_at, order.get(t.rule_id, -1), t.trigger_id))
    for trigger in ranked:
        if trigger.kind != "churn_risk":
            continue
        now_us, rank = micros(trigger.fired_at), SEVERITIES.index(trigger.severity)
        opened = conversation.admit(open_[trigger.account_id], now_us, rank, window_us)
        if opened is not None:
            open_[trigger.account_id] = opened
            sent.append(trigger)
    return sent


def run_sweep(
    events: Iterable[tuple[str, InputEvent]],
    config: SignalsConfig,
    rules: RuleSet,
    rule_id: str,
    *,
    settings: Sequence[Setting],
    scoring: tuple[dict[str, Outcome], Population, EvaluationSettings],
    progress: Callable[[int, int], None] | None = None,
    presorted: int | None = None,
    processes: int = 1,
) -> list[Row]:
    """Replay once with every setting's variant, then score each setting."""
    variants = [s.rule for s in settings if s.rule is not None]
    others = tuple(r for r in rules.rules if r.id != rule_id)
    silent = config.model_copy(
        update={"lifecycle": config.lifecycle.model_copy(update={"churn_episode": timedelta(0)})}
    )
    result = replay_in_processes(
        events,
        silent,
        RuleSet(rules=(*others, *variants)),
        processes=processes,
        progress=progress,
        presorted=presorted,
    )
    by_rule: dict[str, list[Trigger]] = defaultdict(list)
    for trigger in result.triggers:
        if trigger.revision_of is None:
            by_rule[trigger.rule_id].append(trigger)
    base = [t for r in others for t in by_rule.get(r.id, [])]
    order = {r.id: i for i, r in enumerate(rules.rules)}
    order.update((variant.id, order[rule_id]) for variant in variants)  # in the rule's place
    outcomes, people, evaluation = scoring
    rows = []
    for setting in settings:
        own = by_rule.get(setting.rule.id, []) if setting.rule is not None else []
        sent = conversations(base + own, config.lifecycle.churn_episode, order)
        alerts = [Alert.of(t) for t in sent]
        rows.append(Row(setting, churn_quality(alerts, outcomes, people, evaluation)))
    return rows


def choose(rows: Sequence[Row], budget: float) -> Row | None:
    """The setting with the most churn caught 30 days ahead within the alert budget
    (then the most caught, then the fewest alerts)."""
    within = [
        r
        for r in rows
        if r.quality.alerts_per_100_accounts_30d is not None
        and r.quality.alerts_per_100_accounts_30d <= budget
    ]
    if not within:
        return None
    return max(
        within,
        key=lambda r: (
            r.quality.recall_ahead or 0.0,
            r.quality.recall or 0.0,
            -(r.quality.alerts_per_100_accounts_30d or 0.0),
        ),
    )
