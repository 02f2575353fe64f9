"""What commands do to an account: overrides, snoozes and trigger feedback, journalled.

The core (``signals.core``) admits a command like an event (lateness, dedup by
command id) and then hands it here. Every change is written to the account's journal
(who, what, when), and reported back as ``Note``s so that the engine can count them.
Pure: no Kafka, Redis, asyncio or clock.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from signals.errors import Rejection
from signals.health import clear_override
from signals.state import AccountState, from_micros, micros
from topics.models import (
    Command,
    HealthOverride,
    OverrideCleared,
    OverrideSet,
    RuleSnoozed,
    SnoozeLifted,
)

UNKNOWN_RULE = "unknown"
"""The rule feedback is counted under when its trigger is not in the account's log."""
JOURNAL_SIZE = 64
"""Journal entries kept per account, the oldest dropped first."""

NoteKind = Literal[
    "override_set",
    "override_cleared",
    "override_lapsed",
    "rule_snoozed",
    "snooze_lifted",
    "snooze_lapsed",
    "trigger_feedback",
    "suppressed",
]


@dataclass(frozen=True, slots=True)
class Note:
    """One thing a command did, or one trigger a snooze held back."""

    kind: NoteKind
    rule_id: str | None = None
    """The rule a snooze, a suppression or a feedback is about."""
    verdict: str | None = None
    """A feedback's verdict."""


def journal(state: AccountState, at_us: int, kind: NoteKind, author: str, detail: str) -> None:
    """Keep a change in the account's journal (bounded: the oldest go first)."""
    state.journal.append([at_us, kind, author, detail])
    del state.journal[: max(0, len(state.journal) - JOURNAL_SIZE)]


class Commands:
    """Checks and applies commands against the rules and health components in force."""

    def __init__(self, rule_ids: Collection[str], components: Collection[str]) -> None:
        self.rule_ids = frozenset(rule_ids)
        self.components = frozenset(components)

    def refusal(self, command: Command) -> Rejection | None:
        """Why a command cannot apply to any account: a rule or health component not in
        force. It depends on the command alone, so it can be said when it arrives, before
        it waits for the clock (``SignalProcessor.apply``).

        Feedback on a trigger the account no longer remembers (its log keeps the last
        ``fired_log_size``) is not refused: it is kept and journalled under the rule
        ``unknown``, live and in a replay alike.
        """
        reason = None
        if isinstance(command, RuleSnoozed | SnoozeLifted) and command.rule_id not in self.rule_ids:
            reason = f"rule_id: no rule {command.rule_id!r} is in force"
        elif (
            isinstance(command, OverrideSet | OverrideCleared)
            and command.component is not None
            and command.component not in self.components
        ):
            known = ", ".join(sorted(self.components))
            reason = f"component: {command.component!r} is not a health component ({known})"
        return None if reason is None else Rejection("invalid_command", command.command_id, reason)

    @staticmethod
    def unknown_account(state: AccountState, command: Command) -> Rejection | None:
        """A command about an account Pulse has no event of before it (in event time):
        nobody can have acted on what Pulse said of it. Checked as the command is
        applied, in event-time order, live and in a replay alike."""
        if 0 <= state.first_us <= micros(command.occurred_at):
            return None
        reason = (
            f"account_id: Pulse has no event of account {command.account_id!r} before this command"
        )
        return Rejection("invalid_command", command.command_id, reason)

    def apply(self, state: AccountState, command: Command) -> Note:
        """Change the state as the command says; ``refusal`` must have found nothing.

        Feedback is kept as long as its trigger is remembered (``fired_log_size``)."""
        at = micros(command.occurred_at)
        author = command.author
        if isinstance(command, OverrideSet):
            override = HealthOverride(
                component=command.component,
                score=command.score,
                reason=command.reason,
                set_by=author,
                expires_at=command.expires_at,
            )
            clear_override(state, command.component)
            state.overrides.append(override.model_dump(mode="json"))
            state.health_memo = None
            detail = (
                f"{_component(command.component)} set to {command.score:g} until "
                f"{command.expires_at.isoformat()}: {command.reason}"
            )
            journal(state, at, "override_set", author, detail)
            return Note("override_set")
        if isinstance(command, OverrideCleared):
            clear_override(state, command.component)
            state.health_memo = None
            detail = f"{_component(command.component)} override cleared"
            journal(state, at, "override_cleared", author, _with_reason(detail, command.reason))
            return Note("override_cleared")
        if isinstance(command, RuleSnoozed):
            state.snoozes[command.rule_id] = [micros(command.until), command.reason]
            detail = f"{command.rule_id} until {command.until.isoformat()}: {command.reason}"
            journal(state, at, "rule_snoozed", author, detail)
            return Note("rule_snoozed", command.rule_id)
        if isinstance(command, SnoozeLifted):
            state.snoozes.pop(command.rule_id, None)
            detail = _with_reason(f"{command.rule_id} snooze lifted", command.reason)
            journal(state, at, "snooze_lifted", author, detail)
            return Note("snooze_lifted", command.rule_id)
        rule_id = _fired(state, command.trigger_id) or UNKNOWN_RULE
        state.feedback[command.trigger_id] = [command.verdict, author, at, rule_id]
        state.feedback = {t: v for t, v in state.feedback.items() if _fired(state, t)}
        what = "a trigger this account does not remember" if rule_id == UNKNOWN_RULE else rule_id
        detail = f"{command.verdict} on {what} ({command.trigger_id})"
        journal(state, at, "trigger_feedback", author, _with_reason(detail, command.note))
        return Note("trigger_feedback", rule_id, command.verdict)


def suppressed(state: AccountState, rule_id: str, at_us: int) -> Note:
    """A snoozed rule would have fired: journal it, and say so."""
    until_us, reason = state.snoozes[rule_id][:2]
    detail = f"{rule_id} would have fired; snoozed until {_iso(until_us)} ({reason})"
    journal(state, at_us, "suppressed", "pulse", detail)
    return Note("suppressed", rule_id)


def lapse(state: AccountState, now_us: int) -> list[Note]:
    """Drop overrides and snoozes whose time is up, journalling each."""
    notes: list[Note] = []
    kept = []
    for override in state.overrides:
        parsed = HealthOverride.model_validate(override)
        if micros(parsed.expires_at) > now_us:
            kept.append(override)
            continue
        detail = f"{_component(parsed.component)} override of {parsed.score:g} lapsed"
        journal(state, micros(parsed.expires_at), "override_lapsed", "pulse", detail)
        notes.append(Note("override_lapsed"))
    if len(kept) != len(state.overrides):
        state.overrides = kept
        state.health_memo = None
    for rule_id, (until_us, *_) in list(state.snoozes.items()):
        if until_us <= now_us:
            del state.snoozes[rule_id]
            journal(state, until_us, "snooze_lapsed", "pulse", f"{rule_id} snooze ended")
            notes.append(Note("snooze_lapsed", rule_id))
    return notes


def _fired(state: AccountState, trigger_id: str) -> str | None:
    """The rule of one of the account's remembered triggers, or None."""
    for entry in reversed(state.fired):
        if entry[0] == trigger_id:
            return str(entry[1])
    return None


def _component(component: str | None) -> str:
    return "health score" if component is None else f"health component {component}"


def _with_reason(detail: str, reason: str | None) -> str:
    return f"{detail}: {reason}" if reason else detail


def _iso(at_us: int) -> str:
    return from_micros(at_us).isoformat()
