"""`pulse evaluate`: how good are the alerts, from the billing stream itself or a truth file.

The computation is in `engine.evaluation`; this is the command line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.arguments import days_or_none, positive_days, team_size
from engine.evaluation import (
    EvaluationInputError,
    EvaluationSettings,
    read_triggers,
    render,
    report_json,
    score,
)
from engine.forked import available_cores, processes_arg, stopped_cleanly_by_sigterm
from engine.settings import SettingsError, load_settings


@stopped_cleanly_by_sigterm("pulse evaluate")
def _command(args: argparse.Namespace) -> int:
    settings = EvaluationSettings(
        horizon_days=args.horizon_days, warmup_days=args.warmup_days, csms=args.csms
    )
    try:
        triggers = list(read_triggers(args.triggers))
        if not triggers:
            print(
                f"pulse evaluate: warning: {args.triggers} holds no trigger: every Pulse "
                "figure below is that of a rule set that never fires",
                file=sys.stderr,
            )
        report = score(
            triggers,
            events=args.events,
            truth=args.truth,
            settings=settings,
            stripe=load_settings().stripe_options,
            processes=args.processes,
        )
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        print(f"pulse evaluate: error: cannot read{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except (EvaluationInputError, SettingsError) as exc:
        print(f"pulse evaluate: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.buffer.write(report_json(report) + b"\n")
    else:
        print(render(report))
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "evaluate",
        help="score triggers against outcomes: recall and lead time against chance, "
        "precision, lift, alert volume and a naive baseline",
        description="Score triggers (JSON lines, as `pulse replay --out` writes them or the "
        "trigger topics carry them) against what happened: cancellations, trial lapses and "
        "expansions read from the events file (the input of `pulse replay`), or the truth "
        "file of `pulse simulate --truth`, or both (the truth then names the accounts, their "
        "personas and cancellations). With --events, a baseline of three simple rules runs "
        "on the same events. Definitions: docs/evaluation.md.",
    )
    parser.add_argument("--triggers", type=Path, required=True, help="triggers, JSON lines")
    parser.add_argument("--events", type=Path, help="the events replayed (JSON lines)")
    parser.add_argument("--truth", type=Path, help="truth file of `pulse simulate --truth`")
    parser.add_argument(
        "--horizon-days",
        type=positive_days,
        default=EvaluationSettings.horizon_days,
        help="a cancellation is caught by an alert this many days before it (default 120)",
    )
    parser.add_argument(
        "--warmup-days",
        type=days_or_none,
        default=EvaluationSettings.warmup_days,
        help="history a rule needs before judging: recall 30 days ahead is also reported over "
        "the churn watched this many days plus 30 (default 28)",
    )
    parser.add_argument(
        "--csms",
        type=team_size,
        help="CSMs sharing the alerts (default: distinct CSM owners seen)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--processes",
        type=processes_arg,
        default=available_cores(),
        help="processes reading the events file (default: this machine's cores, %(default)s)",
    )
    parser.set_defaults(func=_command)
