"""Rule unit tests in the spirit of promtool's: input events in, expected triggers out.

A test file (YAML) names the rules (inline, a file, or the defaults), a start time,
and cases: timed input events, triggers that must fire (rule, account, time, key
evidence) and triggers that must not. The runner is pure: it replays each case and
returns pass/fail with a readable diff.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from signals.config import SignalsConfig, load_config
from signals.errors import RuleFileError
from signals.replay import replay
from signals.rules import RuleSet, default_rules, load_rules
from signals.rules.model import Duration
from topics.codec import INPUT_EVENTS
from topics.models import Trigger

_OFFSET = re.compile(r"^\+(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+)m)?$")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Moment = datetime | str
"""An ISO 8601 time, or an offset from the file's start such as "+14d", "+2d9h", "+30m"."""


class TimedEvent(_Strict):
    at: Moment
    topic: str = ""
    event: dict[str, Any]
    repeat: int = Field(default=1, ge=1, le=10_000)
    """Deliver the event this many times (distinct ids), ``every`` apart."""
    every: Duration = timedelta(minutes=1)


class ExpectedTrigger(_Strict):
    rule: str
    account: str | None = None
    at: Moment | None = None
    evidence: dict[str, float] = Field(default_factory=dict)
    """Metric -> value the trigger's evidence must show (to 1e-6)."""


class ForbiddenTrigger(_Strict):
    rule: str
    account: str | None = None
    at: Moment | None = None
    """Forbidden at this moment only: the rule may fire at others."""


class Case(_Strict):
    name: str
    input: list[TimedEvent] = Field(min_length=1)
    until: Moment | None = None
    expect: list[ExpectedTrigger] = Field(default_factory=list)
    must_not_fire: list[ForbiddenTrigger] = Field(default_factory=list)


class RuleTestFile(_Strict):
    rules: list[dict[str, Any]] | None = None
    rules_file: str | None = None
    """A rules file read by the caller's loader; neither this nor ``rules`` means defaults."""
    config: dict[str, Any] = Field(default_factory=dict)
    start: AwareDatetime
    tick_every: Duration = timedelta(hours=1)
    defaults: dict[str, Any] = Field(default_factory=dict)
    """Fields every input event gets unless it sets them (e.g. account_id)."""
    cases: list[Case] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class CaseResult:
    source: str
    name: str
    passed: bool
    diff: str
    triggers: tuple[Trigger, ...]


RulesLoader = Callable[[str], str]
"""Reads a rules file named in a test file; the runner itself does no I/O."""


def run_rule_tests(
    text: str, source: str, read_rules: RulesLoader | None = None
) -> list[CaseResult]:
    """Run every case of a rule test file; a malformed file raises RuleFileError."""
    try:
        spec = RuleTestFile.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as exc:
        raise RuleFileError(source, None, f"not a valid rule test file: {exc}") from exc
    rules = _rules(spec, source, read_rules)
    config = load_config(spec.config)
    return [_run_case(spec, case, rules, config, source) for case in spec.cases]


def _rules(spec: RuleTestFile, source: str, read_rules: RulesLoader | None) -> RuleSet:
    if spec.rules is not None:
        return load_rules(yaml.safe_dump({"rules": spec.rules}, sort_keys=False), source)
    if spec.rules_file is not None:
        if read_rules is None:
            raise RuleFileError(source, None, "rules_file is set but no loader was given")
        return load_rules(read_rules(spec.rules_file), spec.rules_file)
    return default_rules()


def _moment(value: Moment, start: datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    match = _OFFSET.match(value.strip())
    if match is None:
        return TypeAdapter(AwareDatetime).validate_python(value)
    days, hours, minutes = (float(g) if g else 0.0 for g in match.groups())
    return start + timedelta(days=days, hours=hours, minutes=minutes)


def _run_case(
    spec: RuleTestFile, case: Case, rules: RuleSet, config: SignalsConfig, source: str
) -> CaseResult:
    events = []
    for i, timed in enumerate(case.input):
        first = _moment(timed.at, spec.start)
        for n in range(timed.repeat):
            raw = {"event_id": f"{case.name}#{i}.{n}"} | spec.defaults | timed.event
            raw["occurred_at"] = first + n * timed.every
            events.append((timed.topic, INPUT_EVENTS.validate_python(raw)))
    until = _moment(case.until, spec.start) if case.until is not None else None
    result = replay(events, config, rules, spec.tick_every, until=until)
    fired = [t for t in result.triggers if t.revision_of is None]
    problems = [
        f"missing: {_describe_expected(e, spec.start)}"
        for e in case.expect
        if not any(_matches(e, t, spec.start) for t in fired)
    ]
    problems += [
        f"must not fire: {f.rule}"
        + (f" for {f.account}" if f.account else "")
        + f", but it fired at {t.fired_at.isoformat()}"
        for f in case.must_not_fire
        for t in fired
        if t.rule_id == f.rule
        and f.account in (None, t.account_id)
        and (f.at is None or t.fired_at == _moment(f.at, spec.start))
    ]
    diff = ""
    if problems:
        got = [
            f"  {t.rule_id} {t.account_id} {t.fired_at.isoformat()} {t.explanation}" for t in fired
        ]
        diff = "\n".join([*problems, "fired:", *(got or ["  (nothing)"])])
    return CaseResult(source, case.name, not problems, diff, tuple(fired))


def _matches(expected: ExpectedTrigger, trigger: Trigger, start: datetime) -> bool:
    if trigger.rule_id != expected.rule:
        return False
    if expected.account is not None and trigger.account_id != expected.account:
        return False
    if expected.at is not None and trigger.fired_at != _moment(expected.at, start):
        return False
    values = {e.metric: e.value for e in trigger.evidence}
    return all(
        values.get(metric) is not None and abs(float(values[metric] or 0) - value) <= 1e-6
        for metric, value in expected.evidence.items()
    )


def _describe_expected(expected: ExpectedTrigger, start: datetime) -> str:
    parts = [expected.rule]
    if expected.account:
        parts.append(f"for {expected.account}")
    if expected.at is not None:
        parts.append(f"at {_moment(expected.at, start).isoformat()}")
    if expected.evidence:
        parts.append(f"with {expected.evidence}")
    return " ".join(parts)
