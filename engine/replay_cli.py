"""`pulse replay EVENTS.jsonl`: run the pure core over a file of events, offline.

Each line is ``{"topic": "<usage|tickets|billing|feedback|accounts>", "value": ...}``
where value is the message as it would be on that topic, in any shape the
contracts accept (a string value is taken as the raw message text). The same
input gives byte-identical output: triggers carry no wall-clock time here.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from engine.event_file import InputReport, SortedEventFile, decode_line
from engine.forked import available_cores, can_fork, processes_arg, stopped_cleanly_by_sigterm
from engine.replay_processes import replay_in_processes
from engine.settings import SettingsError, load_settings
from engine.signals_files import SignalsFileError, read_config, read_rules
from signals.errors import SignalsError
from signals.replay import ReplayResult
from topics.codec import encode
from topics.errors import PulseIgnored, PulseValidationError


def read_events(
    lines: Iterator[bytes],
    progress: IO[str] | None,
    stripe: Mapping[str, Any] | None = None,
) -> InputReport:
    report = InputReport()
    started = last = time.monotonic()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            kind, event = decode_line(line, stripe)
            report.events.append((kind.value, event))
        except PulseValidationError as exc:
            report.reject_invalid(exc, number)
        except PulseIgnored as exc:
            report.ignored[exc.kind] += 1
        if progress is not None and time.monotonic() - last >= 1:
            last = time.monotonic()
            rate = number / (last - started)
            print(f"pulse replay: read {number:,} lines ({rate:,.0f}/s)", file=progress)
    return report


def _summary(result: ReplayResult, report: InputReport, *, outcomes_written: bool = False) -> str:
    summary = result.summary
    fired = [t for t in result.triggers if t.revision_of is None]
    by_kind = Counter(t.kind for t in fired)
    span = (
        f" ({summary.first_event} .. {summary.last_event})"
        if summary.first_event is not None
        else ""
    )
    lines = [
        f"events: {summary.events:,} replayed{span}, {summary.accounts:,} accounts",
        f"triggers: {len(fired):,} on {len({t.account_id for t in fired}):,} accounts "
        f"({', '.join(f'{k} {n}' for k, n in sorted(by_kind.items())) or 'none'}), "
        f"{summary.revisions} revisions",
    ]
    lines += [f"  {rule:<28} {count:>7,}" for rule, count in summary.triggers_by_rule.items()]
    if summary.commands:
        done = ", ".join(f"{kind} {n:,}" for kind, n in summary.commands.items())
        lines.append(f"commands and snoozes: {done}")
    if result.cancellations:
        paid = [c for c in result.cancellations if not c.trial]
        alerted = sum(1 for c in paid if c.prior_alerts)
        hint = "" if outcomes_written else " (--outcomes F writes the records)"
        lines.append(
            f"cancellations: {len(result.cancellations):,} ({len(paid):,} paid, "
            f"{len(result.cancellations) - len(paid):,} trial lapses); {alerted:,} of the paid "
            f"had a churn-risk alert before{hint}"
        )
    bands = ", ".join(f"{band} {n:,}" for band, n in summary.health_bands.items())
    lines.append(f"final health bands: {bands or 'no accounts'}")
    ignored = sum(report.ignored.values())
    if ignored:
        kinds = ", ".join(f"{kind} {n:,}" for kind, n in report.ignored.most_common(5))
        lines.append(f"ignored (deliberately unused, not rejected): {ignored:,} ({kinds})")
    rejected = Counter(summary.rejections_by_kind) + report.invalid
    total = sum(rejected.values())
    lines.append(f"rejected: {total:,}" + ("" if total else " (none)"))
    for reason, count in sorted(rejected.items()):
        example = report.examples.get(reason, "")
        lines.append(f"  {reason:<28} {count:>7,}  {example}"[:200])
    return "\n".join(lines)


@stopped_cleanly_by_sigterm("pulse replay")
def _command(args: argparse.Namespace) -> int:
    try:
        config = read_config(args.config)
        rules = read_rules(args.rules)
        progress = sys.stderr if args.progress else None
        stripe = load_settings().stripe_options
        with SortedEventFile(
            args.events, progress=progress, stripe=stripe, processes=args.processes
        ) as events:
            report = events.report
            if progress:
                processes = args.processes if can_fork() else 1
                print(
                    f"pulse replay: replaying {events.events:,} events "
                    f"in {processes} process{'es' if processes > 1 else ''}",
                    file=progress,
                )

            def on_progress(done: int, total: int) -> None:
                print(f"pulse replay: {done:,}/{total:,} events replayed", file=sys.stderr)

            result = replay_in_processes(
                events,
                config,
                rules,
                processes=args.processes,
                tick_every=timedelta(seconds=args.tick_every) if args.tick_every else None,
                progress=on_progress if progress else None,
                presorted=events.events,
            )
    except (SignalsFileError, SignalsError, SettingsError) as exc:
        print(f"pulse replay: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        reason = exc.strerror or exc
        print(f"pulse replay: error: cannot read {args.events}: {reason}", file=sys.stderr)
        return 2
    output = b"".join(encode(trigger) + b"\n" for trigger in result.triggers)
    if args.outcomes is not None:
        records = b"".join(encode(record) + b"\n" for record in result.cancellations)
        try:
            args.outcomes.write_bytes(records)
        except OSError as exc:
            print(f"pulse replay: error: cannot write {args.outcomes}: {exc}", file=sys.stderr)
            return 2
    if args.out is None:
        sys.stdout.buffer.write(output)
        sys.stdout.flush()
        summary_to = sys.stderr
    else:
        args.out.write_bytes(output)
        summary_to = sys.stdout
        print(
            f"pulse replay: wrote {len(result.triggers):,} triggers to {args.out}", file=summary_to
        )
    print(_summary(result, report, outcomes_written=args.outcomes is not None), file=summary_to)
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "replay",
        help="run the signals core over a file of events (backtest a rules change)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("events", type=Path, help="JSON lines of {topic, value}")
    parser.add_argument("--rules", type=Path, help="rules file (YAML); default: the built-in rules")
    parser.add_argument("--config", type=Path, help="signals configuration (YAML)")
    parser.add_argument("--out", type=Path, help="write triggers here (default: stdout)")
    parser.add_argument(
        "--outcomes",
        type=Path,
        help="write the cancellation records (the outcomes topic's messages) here",
    )
    parser.add_argument(
        "--tick-every",
        type=float,
        help="event-time clock tick in seconds (default: the config's tick_every, 1 day)",
    )
    parser.add_argument(
        "--processes",
        type=processes_arg,
        default=available_cores(),
        help="processes to split the accounts over; the output is the same with any "
        "number (default: this machine's cores, %(default)s)",
    )
    parser.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress on stderr"
    )
    parser.set_defaults(func=_command)
