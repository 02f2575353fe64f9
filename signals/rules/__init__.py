"""Rule definitions, loading and evaluation (cooldown, hysteresis, snooze)."""

from signals.rules.context import RuleContext, Verdict
from signals.rules.evaluate import (
    Check,
    Decision,
    Gate,
    compile_condition,
    condition_since,
    snooze,
    unsnooze,
)
from signals.rules.loader import default_rules, load_rules, optional_rules
from signals.rules.model import (
    HEALTH_METRICS,
    Rule,
    RuleSet,
    event_types,
    metric_names,
    rule_metric_names,
)

__all__ = [
    "HEALTH_METRICS",
    "Check",
    "Decision",
    "Gate",
    "Rule",
    "RuleContext",
    "RuleSet",
    "Verdict",
    "compile_condition",
    "condition_since",
    "default_rules",
    "event_types",
    "load_rules",
    "metric_names",
    "optional_rules",
    "rule_metric_names",
    "snooze",
    "unsnooze",
]
