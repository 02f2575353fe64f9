"""The `pulse` command line."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from engine import (
    commands_cli,
    demo,
    evaluate,
    local,
    replay_cli,
    rules_cli,
    run,
    smoke,
    tail,
    topics_admin,
    verify_cli,
)
from engine.ingest import cli as ingest_cli
from engine.simulator import cli as simulator_cli
from engine.tune import cli as tune_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pulse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    local.add_parser(sub)
    smoke.add_parser(sub)
    topics_admin.add_parser(sub)
    replay_cli.add_parser(sub)
    rules_cli.add_parser(sub)
    simulator_cli.add_parser(sub)
    evaluate.add_parser(sub)
    run.add_parser(sub)
    tail.add_parser(sub)
    commands_cli.add_parser(sub)
    demo.add_parser(sub)
    verify_cli.add_parser(sub)
    tune_cli.add_parser(sub)
    ingest_cli.add_parser(sub)
    return parser


STOPPED_BY_SIGTERM = 128 + signal.SIGTERM
"""The exit code of a command stopped by SIGTERM, as the shell reports a killed one."""


def _stop(signum: int, frame: FrameType | None) -> None:
    print("pulse: stopped by SIGTERM", file=sys.stderr)
    raise SystemExit(STOPPED_BY_SIGTERM)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command. SIGTERM (``kill``, a container stopping, a CI timeout) stops it as
    Ctrl-C would, its cleanup run: a replay's temporary sort folder is removed and its
    forked processes stopped, not left behind. The worker's faust sets its own."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
