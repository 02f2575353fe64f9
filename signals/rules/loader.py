"""Loading rules files: YAML validated by pydantic, errors reported with their line."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files

import yaml
from pydantic import ValidationError

from signals.errors import RuleFileError
from signals.rules.model import Rule, RuleSet

DEFAULT_RULES = "default_rules.yaml"
OPTIONAL_RULES = "optional_rules.yaml"
TEXTBOOK_RULES = "textbook_rules.yaml"


def load_rules(text: str, source: str) -> RuleSet:
    """Parse and validate a rules file; a bad rule raises RuleFileError with line and reason."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise RuleFileError(
            source, line, f"not valid YAML: {getattr(exc, 'problem', exc)}"
        ) from exc
    if not isinstance(data, dict) or root is None:
        raise RuleFileError(source, 1, "expected a mapping with a 'rules' list")
    try:
        ruleset = RuleSet.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        node, path = _locate(root, error["loc"])
        raise RuleFileError(source, node.start_mark.line + 1, f"{path}: {error['msg']}") from exc
    seen: set[str] = set()
    for index, rule in enumerate(ruleset.rules):
        if rule.id in seen:
            node, _ = _locate(root, ("rules", index, "id"))
            line = node.start_mark.line + 1
            raise RuleFileError(source, line, f"rule id {rule.id!r} is defined twice")
        seen.add(rule.id)
    if ruleset.enable and ruleset.extends != "defaults":
        node, _ = _locate(root, ("enable",))
        reason = "enable needs 'extends: defaults' (it switches on rules shipped beside them)"
        raise RuleFileError(source, node.start_mark.line + 1, reason)
    if ruleset.extends is None:
        if ruleset.disable:
            node, _ = _locate(root, ("disable",))
            reason = "disable needs 'extends: defaults' (a file without it has only its own rules)"
            raise RuleFileError(source, node.start_mark.line + 1, reason)
        if not ruleset.rules:
            raise RuleFileError(source, 1, "no rules: list some, or extend the defaults")
        return ruleset
    return _on_defaults(ruleset, root, source)


def _on_defaults(ruleset: RuleSet, root: yaml.Node, source: str) -> RuleSet:
    """The base (defaults or textbook) with this file's disables, replacements and
    additions applied."""
    defaults = textbook_rules() if ruleset.extends == "textbook" else default_rules()
    if ruleset.enable:
        defaults = RuleSet(rules=(*defaults.rules, *_enabled(ruleset, root, source)))
    # A rule that left the defaults for the optional ones (ticket_spike) may still be
    # disabled by a file written before, and is off anyway; its id stays its own.
    shipped = optional_rules() if ruleset.extends == "defaults" else RuleSet()
    for index, rule_id in enumerate(ruleset.disable):
        if defaults.get(rule_id) is None and shipped.get(rule_id) is None:
            node, _ = _locate(root, ("disable", index))
            reason = f"disable names {rule_id!r}, which is not a rule of {ruleset.extends}"
            raise RuleFileError(source, node.start_mark.line + 1, reason)
    for index, rule in enumerate(ruleset.rules):
        base = defaults.get(rule.id) or shipped.get(rule.id)
        if base is not None and rule != base and rule.version <= base.version:
            node, _ = _locate(root, ("rules", index, "version"))
            reason = (
                f"rule {rule.id!r} changes the {ruleset.extends} rule of version "
                f"{base.version} but keeps version {rule.version}: give it version "
                f"{base.version + 1} or more, so its triggers (their ids hash the version) "
                "are told apart from the old rule's"
            )
            raise RuleFileError(source, node.start_mark.line + 1, reason)
    own = {rule.id: rule for rule in ruleset.rules}
    merged = [own.pop(rule.id, rule) for rule in defaults.rules if rule.id not in ruleset.disable]
    return RuleSet(rules=(*merged, *own.values()))


def _enabled(ruleset: RuleSet, root: yaml.Node, source: str) -> list[Rule]:
    """The optional rules a file's ``enable`` names, each once."""
    optional = optional_rules()
    enabled: list[Rule] = []
    for index, rule_id in enumerate(ruleset.enable):
        rule = optional.get(rule_id)
        if rule is None:
            node, _ = _locate(root, ("enable", index))
            known = ", ".join(r.id for r in optional.rules)
            reason = f"enable names {rule_id!r}, which is no optional rule (there are: {known})"
            raise RuleFileError(source, node.start_mark.line + 1, reason)
        if rule not in enabled:
            enabled.append(rule)
    return enabled


def default_rules() -> RuleSet:
    """The rules every account gets unless a rules file replaces them (signals.md defaults)."""
    text = files("signals").joinpath(DEFAULT_RULES).read_text(encoding="utf-8")
    return load_rules(text, DEFAULT_RULES)


def optional_rules() -> RuleSet:
    """Rules shipped switched off, for ``enable:`` in a file extending the defaults."""
    text = files("signals").joinpath(OPTIONAL_RULES).read_text(encoding="utf-8")
    return load_rules(text, OPTIONAL_RULES)


def textbook_rules() -> RuleSet:
    """The domain spec's rules with its literal thresholds (``extends: textbook``)."""
    text = files("signals").joinpath(TEXTBOOK_RULES).read_text(encoding="utf-8")
    return load_rules(text, TEXTBOOK_RULES)


def _locate(root: yaml.Node, loc: Sequence[int | str]) -> tuple[yaml.Node, str]:
    """The deepest YAML node on pydantic's error path, and that path made readable.

    pydantic puts a union's tag in the path ("when", "metric", "op"); a tag repeats a key
    of the mapping it is in, so a key followed by another key of the same mapping is skipped.
    """
    node = root
    path = ""
    parts = list(loc)
    for i, part in enumerate(parts):
        if isinstance(node, yaml.MappingNode):
            children = {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
            following = parts[i + 1] if i + 1 < len(parts) else None
            if part not in children:
                if following is None:
                    path += f".{part}"
                continue
            if isinstance(following, str) and following in children:
                continue
            node = children[str(part)]
            path += f".{part}" if path else str(part)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            path += f"[{part}]"
        elif isinstance(node, yaml.ScalarNode):
            break
    return node, path or "file"
