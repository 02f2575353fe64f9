"""The settings a sweep tries: a rule's thresholds moved one at a time, and the rule off.

Pure: rules in, rules out. Each variant is the rule with one metric threshold changed,
under an id of its own (``<rule>__<n>``) so that one replay can run them all side by side.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from signals.rules.model import Rule

DEFAULT_FACTORS: tuple[float, ...] = (0.5, 0.75, 1.25, 1.5, 2.0)
"""Each threshold times these (a threshold of 0 moves by +-1 and +-2 instead)."""


@dataclass(frozen=True)
class Setting:
    """One point of the sweep: which threshold, at what value (``path`` None: the default)."""

    label: str
    rule: Rule | None
    """The variant to run; None means the rule switched off."""
    path: tuple[str | int, ...] | None = None
    value: float | None = None


def thresholds(rule: Rule) -> list[tuple[tuple[str | int, ...], str, float]]:
    """(path in the rule's JSON, metric, threshold) of every metric condition of the rule."""
    found: list[tuple[tuple[str | int, ...], str, float]] = []

    def walk(node: Any, path: tuple[str | int, ...]) -> None:
        if isinstance(node, dict):
            if "metric" in node and "threshold" in node and "op" in node:
                found.append(((*path, "threshold"), node["metric"], float(node["threshold"])))
            for key, child in node.items():
                walk(child, (*path, key))
        elif isinstance(node, list):
            for index, child in enumerate(node):
                walk(child, (*path, index))

    walk(rule.model_dump(mode="json")["when"], ("when",))
    return found


def with_threshold(rule: Rule, path: Sequence[str | int], value: float, rule_id: str) -> Rule:
    """The rule with the threshold at ``path`` set to ``value``, under ``rule_id``."""
    data = rule.model_dump(mode="json")
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    data["id"] = rule_id
    return Rule.model_validate(data)


def candidate_values(threshold: float, factors: Sequence[float]) -> list[float]:
    if threshold == 0:
        return [-2.0, -1.0, 1.0, 2.0]
    return sorted({round(threshold * f, 6) for f in factors} - {threshold})


def sweep(
    rule: Rule,
    factors: Sequence[float] = DEFAULT_FACTORS,
    only: Sequence[str] = (),
    values: dict[str, list[float]] | None = None,
) -> Iterator[Setting]:
    """The rule as it is, then off, then each threshold moved alone.

    ``only`` limits the sweep to conditions on these metrics; ``values`` gives a metric's
    values explicitly instead of ``factors``."""
    yield Setting("as is", rule.model_copy(update={"id": f"{rule.id}__0"}))
    yield Setting("off", None)
    number = 1
    for path, metric, threshold in thresholds(rule):
        if only and metric not in only:
            continue
        chosen = (values or {}).get(metric) or candidate_values(threshold, factors)
        for value in chosen:
            variant = with_threshold(rule, path, value, f"{rule.id}__{number}")
            number += 1
            yield Setting(f"{metric} {_op(rule, path)} {value:g}", variant, tuple(path), value)


def _op(rule: Rule, path: Sequence[str | int]) -> str:
    node: Any = rule.model_dump(mode="json")
    for key in path[:-1]:
        node = node[key]
    return str(node["op"])
