"""What both peer processes share: their arguments and how they report to the suite.

A peer is started by the suite as a child process and told how many input messages
there are. It writes JSON lines on stdout: ``{"progress": n}`` every few seconds and
``{"done": ...}`` once every input message has been processed and every re-keyed
record has arrived where it was sent; the suite then stops it.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field

import orjson

PROGRESS_EVERY = 2.0


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument(
        "--input", action="append", required=True, help="KIND=TOPIC, once per input topic"
    )
    parser.add_argument("--output", required=True, help="topic the triggers go to")
    parser.add_argument("--group", required=True, help="consumer group / app id (unique per run)")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--partitions", type=int, required=True)
    parser.add_argument("--expect", type=int, required=True, help="input messages to consume")
    return parser.parse_args()


def input_kinds(args: argparse.Namespace) -> dict[str, str]:
    """Topic name -> kind (usage, tickets, billing, feedback, accounts)."""
    pairs = (item.split("=", 1) for item in args.input)
    return {topic: kind for kind, topic in pairs}


@dataclass
class Tracker:
    """Counts input messages and re-keyed records; says when everything has been processed."""

    expect: int
    started: float = field(default_factory=time.monotonic)
    inputs: int = 0
    malformed: int = 0
    triggers: int = 0
    to_users: int = 0
    at_users: int = 0
    to_accounts: int = 0
    at_accounts: int = 0
    first: float | None = None
    inputs_at: float | None = None
    """When the last input message had been processed (re-keyed ones may still follow)."""
    done_at: float | None = None
    _reported: float = field(default_factory=time.monotonic)

    def input_done(self) -> None:
        """One input message has been processed (whatever became of it)."""
        now = time.monotonic()
        if self.first is None:
            self.first = now
        self.inputs += 1
        if self.inputs == self.expect:
            self.inputs_at = now
        if now - self._reported >= PROGRESS_EVERY:
            self._reported = now
            emit({"progress": self.inputs})
        self.check()

    def check(self) -> None:
        if self.done_at is not None or self.inputs < self.expect:
            return
        if self.at_users < self.to_users or self.at_accounts < self.to_accounts:
            return
        self.done_at = time.monotonic()
        first = self.first if self.first is not None else self.done_at
        emit(
            {
                "done": True,
                "events": self.inputs,
                "seconds": round(self.done_at - first, 3),
                "inputs_s": round((self.inputs_at or self.done_at) - first, 3),
                "startup_s": round(first - self.started, 3),
                "malformed": self.malformed,
                "rekeyed_by_user": self.to_users,
                "resolved_to_account": self.to_accounts,
                "triggers": self.triggers,
            }
        )


def emit(document: dict[str, object]) -> None:
    """One JSON line on the real stdout (faust redirects ``sys.stdout`` to its logger)."""
    out = sys.__stdout__ or sys.stdout
    out.write(orjson.dumps(document).decode() + "\n")
    out.flush()
