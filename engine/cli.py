"""The `pulse` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from engine import (
    commands_cli,
    demo,
    evaluate,
    local,
    peers_cli,
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
    peers_cli.add_parser(sub)
    ingest_cli.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
