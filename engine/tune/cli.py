"""`pulse tune EVENTS --rule RULE`: the trade-off of a rule's thresholds on your history.

Prints, per setting of the rule, what the whole rule set would have done: paid churn
caught (recall), caught 30 days ahead, precision by account, lift over the base rate,
the chance a retained account is alerted in a quarter, and churn-risk alerts per 100
accounts per 30 days. With ``--budget`` it picks the setting that catches the most
churn 30 days ahead within that many alerts, writes it as a rules file on top of the
defaults, and replays once more with that file to show the real figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import yaml

from engine.arguments import positive_days, team_size
from engine.evaluation.churn import churn_quality, population
from engine.evaluation.files import EvaluationInputError, read_truth
from engine.evaluation.history import build_history
from engine.evaluation.model import Alert, EvaluationSettings
from engine.evaluation.outcomes import outcomes_from_events, with_truth
from engine.event_file import SortedEventFile
from engine.forked import available_cores, processes_arg, stopped_cleanly_by_sigterm
from engine.replay_processes import replay_in_processes
from engine.settings import SettingsError, load_settings
from engine.signals_files import SignalsFileError, read_config, read_rules
from engine.tune.sweep_run import Row, choose, run_sweep
from engine.tune.variants import DEFAULT_FACTORS, Setting, sweep
from signals.config import SignalsConfig
from signals.errors import SignalsError
from signals.rules import Rule, RuleSet, load_rules


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _num(value: float | None, pattern: str = "{:.1f}") -> str:
    return "-" if value is None else pattern.format(value)


def table(rows: list[Row], chosen: Row | None = None) -> str:
    headers = ["setting", "recall", ">=30d", "precision", "lift", "chance/qtr", "alerts/100/30d"]
    headers.append("median lead")
    body = [
        [
            ("* " if row is chosen else "  ") + row.setting.label,
            _pct(row.quality.recall),
            _pct(row.quality.recall_ahead),
            _pct(row.quality.precision_by_account),
            _num(row.quality.lift),
            _pct(row.quality.chance_quarter),
            # two decimals: a row at 3.05 must not read as within a budget of 3
            _num(row.quality.alerts_per_100_accounts_30d, "{:.2f}"),
            _num(None if row.quality.lead_time_days is None else row.quality.lead_time_days.median),
        ]
        for row in rows
    ]
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(lines)


def rules_file(rule: Rule, setting: Setting) -> str:
    """A rules file on top of the defaults that applies ``setting`` to ``rule``."""
    header = f"# Written by `pulse tune --rule {rule.id}`: {setting.label}.\n"
    if setting.rule is None:
        return header + yaml.safe_dump({"extends": "defaults", "disable": [rule.id]})
    tuned = setting.rule.model_dump(mode="json", exclude_defaults=True)
    tuned["id"], tuned["version"] = rule.id, rule.version + 1
    if setting.path is not None:  # the words a CSM reads must not promise the old threshold
        tuned["description"] = f"{rule.description} [tuned: {setting.label}]"[:300]
    document: dict[str, Any] = {"extends": "defaults", "rules": [tuned]}
    return header + yaml.safe_dump(document, sort_keys=False)


def _values(items: list[str]) -> dict[str, list[float]]:
    values: dict[str, list[float]] = {}
    for item in items:
        metric, _, listed = item.partition("=")
        try:
            values[metric.strip()] = [float(v) for v in listed.split(",") if v.strip()]
        except ValueError:
            msg = f"--values expects METRIC=V1,V2,...; got {item!r}"
            raise argparse.ArgumentTypeError(msg) from None
    return values


@stopped_cleanly_by_sigterm("pulse tune")
def _command(args: argparse.Namespace) -> int:
    started = time.monotonic()
    if args.out is not None and args.budget is None:
        print(
            "pulse tune: error: --out writes the setting chosen for an alert budget: "
            "give --budget N too",
            file=sys.stderr,
        )
        return 2
    try:
        config, rules = read_config(args.config), read_rules(args.rules)
        rule = rules.get(args.rule)
        if rule is None:
            known = ", ".join(r.id for r in rules.rules)
            print(f"pulse tune: error: no rule {args.rule!r} (rules: {known})", file=sys.stderr)
            return 2
        progress = sys.stderr if args.progress else None
        stripe = load_settings().stripe_options
        with SortedEventFile(
            args.events, progress=progress, stripe=stripe, processes=args.processes
        ) as events:
            return _tune(
                args, config=config, rules=rules, rule=rule, events=events, started=started
            )
    except (
        SignalsFileError,
        SignalsError,
        EvaluationInputError,
        SettingsError,
        argparse.ArgumentTypeError,
    ) as exc:
        print(f"pulse tune: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"pulse tune: error: {exc}", file=sys.stderr)
        return 2


def _tune(
    args: argparse.Namespace,
    *,
    config: SignalsConfig,
    rules: RuleSet,
    rule: Rule,
    events: SortedEventFile,
    started: float,
) -> int:
    """Sweep ``rule`` over the sorted events (replayed, never held in memory)."""
    history = build_history(events)
    outcomes = outcomes_from_events(history)
    if args.truth is not None:
        outcomes = with_truth(outcomes, read_truth(args.truth), history.last_event)
    evaluation = EvaluationSettings(horizon_days=args.horizon_days, csms=args.csms)
    people = population(outcomes, args.csms)
    settings = list(sweep(rule, DEFAULT_FACTORS, args.only or (), _values(args.values)))
    print(
        f"pulse tune: {rule.id}, {len(settings)} settings over {events.events:,} events, "
        f"{people.accounts:,} accounts ({people.churned} churned), one replay",
        file=sys.stderr,
    )

    def on_progress(done: int, total: int) -> None:
        print(f"pulse tune: {done:,}/{total:,} events replayed", file=sys.stderr)

    rows = run_sweep(
        events,
        config,
        rules,
        rule.id,
        settings=settings,
        scoring=(outcomes, people, evaluation),
        progress=on_progress if args.progress else None,
        presorted=events.events,
        processes=args.processes,
    )
    chosen = choose(rows, args.budget) if args.budget is not None else None
    print(table(rows, chosen))
    print(
        f"\n{people.accounts:,} accounts, base rate {_pct(people.base_rate)}; "
        f"swept in {time.monotonic() - started:.0f} s"
    )
    if args.json is not None:
        args.json.write_bytes(
            orjson.dumps(
                [{"setting": r.setting.label, **r.quality.__dict__} for r in rows],
                default=str,
                option=orjson.OPT_INDENT_2,
            )
        )
    if args.budget is None:
        return 0
    if chosen is None:
        print(f"no setting stays within {args.budget:g} alerts per 100 accounts per 30 days")
        return 1
    text = rules_file(rule, chosen.setting)
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}: {chosen.setting.label}")
    else:
        print("\n" + text)
    tuned = load_rules(text, str(args.out or "tuned rules"))
    if args.progress:
        print("pulse tune: checking the chosen setting with a replay of its own", file=sys.stderr)
    check = replay_in_processes(
        events, config, tuned, processes=args.processes, presorted=events.events
    )
    alerts = [Alert.of(t) for t in check.triggers if t.revision_of is None]
    quality = churn_quality(alerts, outcomes, people, evaluation)
    print(
        f"checked by a replay with that file: recall {_pct(quality.recall)}, "
        f">=30d {_pct(quality.recall_ahead)}, lift {_num(quality.lift)}, "
        f"{_num(quality.alerts_per_100_accounts_30d)} alerts per 100 accounts per 30 days"
    )
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "tune",
        help="sweep a rule's thresholds on your history; write a rules file for an alert budget",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("events", type=Path, help="events, JSON lines of {topic, value}")
    parser.add_argument("--rule", required=True, help="the rule to sweep (its id)")
    parser.add_argument("--truth", type=Path, help="a truth file; default: outcomes from billing")
    parser.add_argument("--rules", type=Path, help="rules file (default: the built-in rules)")
    parser.add_argument("--config", type=Path, help="signals configuration (YAML)")
    parser.add_argument(
        "--budget", type=float, help="churn-risk alerts per 100 accounts per 30 days to stay within"
    )
    parser.add_argument("--out", type=Path, help="write the chosen setting's rules file here")
    parser.add_argument("--only", nargs="*", metavar="METRIC", help="sweep only these metrics")
    parser.add_argument(
        "--values",
        action="append",
        default=[],
        metavar="METRIC=V1,V2",
        help="explicit values for a metric's threshold (repeatable)",
    )
    parser.add_argument(
        "--horizon-days", type=positive_days, default=120.0, help="recall horizon (120)"
    )
    parser.add_argument("--csms", type=team_size, help="CSMs sharing the alerts")
    parser.add_argument("--json", type=Path, help="also write the table as JSON here")
    parser.add_argument(
        "--processes",
        type=processes_arg,
        default=available_cores(),
        help="processes to split the replays' accounts over (default: this machine's "
        "cores, %(default)s)",
    )
    parser.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress on stderr"
    )
    parser.set_defaults(func=_command)
