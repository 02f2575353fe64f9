"""Building Trigger messages: deterministic ids, priority, evidence and explanation."""

from __future__ import annotations

import math
from datetime import datetime
from hashlib import blake2b

from signals.config import Severity, SignalsConfig
from signals.rules.context import Verdict
from signals.rules.model import Rule
from signals.state import AccountState
from topics.models import Evidence, HealthSnapshot, Trigger

_MAX_EXPLANATION = 1024


def trigger_id(account_id: str, rule: Rule, episode: str) -> str:
    """Same account, rule version and event-time episode -> same id, after any replay."""
    key = "\x1f".join((account_id, rule.id, str(rule.version), episode))
    return blake2b(key.encode(), digest_size=16).hexdigest()


def priority(
    rule: Rule, state: AccountState, config: SignalsConfig, severity: Severity | None = None
) -> float:
    """Severity weight x account value factor (1 + log10(1 + annual value / reference))."""
    weight = config.priority.severity_weights[severity or rule.severity]
    annual = state.fact(state.profile, "acv")
    if annual is None:
        mrr = state.fact(state.billing, "mrr")
        annual = None if mrr is None else 12 * mrr
    if annual is None:
        return weight
    return round(weight * (1 + math.log10(1 + annual / config.priority.reference_annual_value)), 4)


def explain(rule: Rule, evidence: list[Evidence]) -> str:
    """One line a CSM can read: the rule's description, then the numbers behind it."""
    facts = "; ".join(_describe(e) for e in evidence)
    line = f"{rule.description}: {facts}" if facts else rule.description
    return line if len(line) <= _MAX_EXPLANATION else line[: _MAX_EXPLANATION - 1] + "…"


def _describe(evidence: Evidence) -> str:
    value = "no data" if evidence.value is None else f"{evidence.value:g}"
    threshold = (
        "" if evidence.threshold is None else f" {evidence.comparison} {evidence.threshold:g}"
    )
    window = f" ({evidence.window})" if evidence.window else ""
    return f"{evidence.metric} {value}{threshold}{window}"


def build_trigger(
    rule: Rule,
    state: AccountState,
    *,
    verdict: Verdict,
    episode: str,
    fired_at: datetime,
    health: HealthSnapshot | None,
    config: SignalsConfig,
    severity: Severity | None = None,
) -> Trigger:
    evidence = verdict.evidence()
    return Trigger(
        trigger_id=trigger_id(state.account_id, rule, episode),
        account_id=state.account_id,
        rule_id=rule.id,
        rule_version=rule.version,
        kind=rule.kind,
        severity=severity or rule.severity,
        priority=priority(rule, state, config, severity),
        fired_at=fired_at,
        evidence=evidence,
        health=health,
        csm_owner=state.fact(state.profile, "csm_owner"),
        recommended_play=rule.play,
        explanation=explain(rule, evidence),
    )


def revise(original_id: str, trigger: Trigger, reason: str) -> Trigger:
    """A revision of a fired trigger: its own deterministic id, pointing at the original."""
    revision_id = blake2b(f"{original_id}\x1frevision".encode(), digest_size=16).hexdigest()
    return trigger.model_copy(
        update={
            "trigger_id": revision_id,
            "revision_of": original_id,
            "revision_reason": reason[:_MAX_EXPLANATION],
        }
    )
