"""`pulse override`, `pulse snooze`, `pulse feedback`: a CSM's commands from a terminal.

Each builds one command (``engine.commands``), produces it to the commands topic and
prints where it landed; the worker applies it to the account in order with its events.
A dead letter on the dead-letter topic says why a worker refused one (an unknown rule,
component or trigger). Exit status: 0 sent, 2 invalid or not sent.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from datetime import UTC, datetime, time
from typing import Any

from aiokafka.errors import KafkaError

from engine.commands import CommandSender, build
from engine.settings import SettingsError, load_settings
from topics.errors import PulseValidationError
from topics.models import Command

VERDICTS = ("acknowledged", "play_started", "resolved", "not_useful", "false_alarm")


def _when(value: str) -> datetime:
    """An ISO date (midnight UTC) or datetime; naive times are UTC."""
    try:
        if len(value) == 10:
            return datetime.combine(datetime.fromisoformat(value).date(), time(), UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        msg = f"expected a date (2026-12-31) or a time (2026-12-31T09:00Z), got {value!r}"
        raise argparse.ArgumentTypeError(msg) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _override(args: argparse.Namespace) -> dict[str, Any]:
    fields = {"account_id": args.account_id, "component": args.component, "reason": args.reason}
    if args.clear:
        return {"type": "override_cleared"} | fields
    if args.score is None or args.until is None or args.reason is None:
        raise PulseValidationError("override", "--score, --until and --reason are required")
    return {"type": "override_set", "score": args.score, "expires_at": args.until} | fields


def _snooze(args: argparse.Namespace) -> dict[str, Any]:
    fields = {"account_id": args.account_id, "rule_id": args.rule_id, "reason": args.reason}
    if args.lift:
        return {"type": "snooze_lifted"} | fields
    if args.until is None or args.reason is None:
        raise PulseValidationError("snooze", "--until and --reason are required")
    return {"type": "rule_snoozed", "until": args.until} | fields


def _feedback(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "type": "trigger_feedback",
        "account_id": args.account_id,
        "trigger_id": args.trigger_id,
        "verdict": args.verdict,
        "note": args.note,
    }


async def _send(command: Command) -> str:
    async with CommandSender(load_settings()) as sender:
        sent = await sender.send(command)
    return f"{sent.topic} partition {sent.partition} offset {sent.offset}"


def _run(args: argparse.Namespace) -> int:
    name = f"pulse {args.command}"
    try:
        fields = args.fields(args)
        kind = fields.pop("type")
        command = build(
            kind, fields | {"author": args.by, "command_id": args.id, "occurred_at": args.at}
        )
        where = asyncio.run(_send(command))
    except PulseValidationError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 2
    except SettingsError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 2
    except (KafkaError, OSError) as exc:
        print(f"{name}: error: not sent, the broker did not take it: {exc!r}", file=sys.stderr)
        return 2
    print(f"{command.type} {command.command_id} for account {command.account_id} sent to {where}")
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--by", default=getpass.getuser(), help="who gives the command (default: your login)"
    )
    parser.add_argument(
        "--id", help="command id; send the same id again to retry safely (default: a new one)"
    )
    parser.add_argument("--at", type=_when, help="when it was given, in event time (default: now)")
    parser.set_defaults(func=_run)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    override = sub.add_parser(
        "override", help="set (or --clear) a CSM's health score for an account, until a date"
    )
    override.add_argument("account_id")
    override.add_argument("--score", type=float, help="0..100 whole score, 0..1 a component")
    override.add_argument("--component", help="a health component (default: the whole score)")
    override.add_argument("--until", type=_when, help="when the override lapses by itself")
    override.add_argument("--reason", help="why, for whoever reads the breakdown")
    override.add_argument("--clear", action="store_true", help="remove the override instead")
    override.set_defaults(fields=_override)
    _common(override)

    snooze = sub.add_parser("snooze", help="silence (or --lift) one rule for an account")
    snooze.add_argument("account_id")
    snooze.add_argument("rule_id")
    snooze.add_argument("--until", type=_when, help="when the rule may fire again")
    snooze.add_argument("--reason", help="why, kept in the account's journal")
    snooze.add_argument("--lift", action="store_true", help="end the snooze now instead")
    snooze.set_defaults(fields=_snooze)
    _common(snooze)

    feedback = sub.add_parser(
        "feedback", help="say what was done with one of an account's triggers"
    )
    feedback.add_argument("account_id")
    feedback.add_argument("trigger_id")
    feedback.add_argument("verdict", choices=VERDICTS)
    feedback.add_argument("--note", help="free text")
    feedback.set_defaults(fields=_feedback)
    _common(feedback)
