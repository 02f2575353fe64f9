"""`pulse peers EVENTS --out peers.yaml`: learn a peer table from your history.

Replays the events, then takes each current customer's share of seats active on an
average day over the history's last 28 days, and writes, per size band (seats
purchased), the values at every 5th percentile as the ``peers`` section of a signals
configuration. With that file, ``dau_share_peer_percentile`` says where
an account stands among accounts of its size, 0 to 100, the same on every worker and
in every replay (docs/rules.md, "Peer percentiles", says why it is frozen, not live).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from engine.arguments import at_least_one
from engine.event_file import SortedEventFile
from engine.forked import available_cores, processes_arg, stopped_cleanly_by_sigterm
from engine.replay_processes import replay_in_processes
from engine.settings import SettingsError, load_settings
from engine.signals_files import SignalsFileError, read_config
from signals.config import HealthConfig, SignalsConfig, load_config
from signals.errors import SignalsError
from signals.health import HealthModel
from signals.metrics import memoised
from signals.metrics.peers import peer_sample
from signals.peers import (
    DEFAULT_BANDS,
    MIN_PEERS,
    PEER_METRIC,
    PEER_PERCENTILE,
    PeersConfig,
    describe,
    learn,
)
from signals.replay import ReplayResult
from signals.rules import RuleSet

USE = """\
Use it: pass it as --config to pulse replay and pulse tune, and to the worker as
PULSE_SIGNALS_CONFIG_FILE, then read dau_share_peer_percentile (0-100) in a rule,
  {metric: dau_share_peer_percentile, op: "<=", threshold: 10}
or in health, in place of dau_share_of_seats:
  {metric: dau_share_peer_percentile, red: 10, green: 50}
Re-learn it when your book changes; the table does not move by itself."""


def peer_table(
    result: ReplayResult, config: SignalsConfig, bands: tuple[int, ...], min_peers: int, source: str
) -> tuple[PeersConfig, dict[str, int]]:
    """The peer table of a replay's final states, and the accounts per band."""
    end = result.summary.last_event
    if end is None:
        msg = "no events to learn peers from"
        raise SignalsError(msg)
    accounts = []
    for state in result.states.values():
        seats = memoised("seats_purchased", state, end, config)
        value = peer_sample(state, end, config)
        if seats is not None and value is not None:
            accounts.append((seats, value))
    first = result.summary.first_event
    span = f"{first:%Y-%m-%d} .. {end:%Y-%m-%d}" if first is not None else f"to {end:%Y-%m-%d}"
    learned_from = (
        f"{source}: {PEER_METRIC}, each customer's 28 days to {end:%Y-%m-%d} (events {span})"
    )
    return learn(accounts, bands, min_peers, learned_from)


def config_text(peers: PeersConfig, base: dict[str, Any] | None) -> str:
    """A signals configuration: ``base`` (the settings given with --config) plus peers."""
    data = dict(base or {})
    data["peers"] = {
        "learned_from": peers.learned_from,
        "seat_bands": list(peers.seat_bands),
        "percentiles": {
            band: [round(v, 6) for v in values] for band, values in peers.percentiles.items()
        },
    }
    header = (
        "# Signals configuration with a peer table learned by `pulse peers`.\n"
        "# percentiles: per band, the value of dau_share_of_seats at the 0th, 5th, ..., 100th\n"
        "# percentile of the band's customers.\n"
    )
    text = header + yaml.safe_dump(data, sort_keys=False, width=100, default_flow_style=None)
    load_config(yaml.safe_load(text))  # what is written must load
    return text


def _unwritable(out: Path, inputs: list[Path | None]) -> str | None:
    """Why ``out`` cannot take the configuration, or None."""
    if not out.parent.is_dir():
        return f"no folder {out.parent}"
    if out.is_dir():
        return "it is a folder"
    for path in inputs:
        if path is not None and path.exists() and out.exists() and out.samefile(path):
            return f"it is the input {path}; write the table to a file of its own"
    return None


def _for_learning(config: SignalsConfig) -> SignalsConfig:
    """The configuration to replay with while learning a table. Health that reads the
    peer percentile cannot be scored without the table being learned, and the shares
    learned do not depend on health: such health is replaced by the default one."""
    if config.peers.percentiles or PEER_PERCENTILE not in HealthModel(config).metric_names():
        return config
    return config.model_copy(update={"health": HealthConfig()})


def _bands(text: str) -> tuple[int, ...]:
    try:
        bands = tuple(int(part) for part in text.split(","))
        PeersConfig(seat_bands=bands)
    except ValueError:
        msg = f"want ascending seat counts above 1, like 10,50,200, not {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    return bands


@stopped_cleanly_by_sigterm("pulse peers")
def _command(args: argparse.Namespace) -> int:
    refused = _unwritable(args.out, [args.events, args.config])
    if refused:  # say so now, not after the replay
        print(f"pulse peers: error: cannot write {args.out}: {refused}", file=sys.stderr)
        return 2
    try:
        config = read_config(args.config)
        base = yaml.safe_load(args.config.read_text(encoding="utf-8")) if args.config else None
        progress = sys.stderr if args.progress else None
        with SortedEventFile(
            args.events,
            progress=progress,
            stripe=load_settings().stripe_options,
            processes=args.processes,
        ) as events:
            if progress:
                print(f"pulse peers: replaying {events.events:,} events", file=progress)
            result = replay_in_processes(
                events,
                _for_learning(config),
                RuleSet(),
                processes=args.processes,
                presorted=events.events,
            )
        peers, counts = peer_table(result, config, args.bands, args.min_peers, args.events.name)
        print(f"pulse peers: {sum(counts.values()):,} customers to compare, by seats purchased")
        print("\n".join(describe(peers, counts)))
        if not peers.percentiles:
            print(
                f"pulse peers: error: no band has {args.min_peers} customers with use to "
                "compare; nothing written (--min-peers N, or wider --bands)",
                file=sys.stderr,
            )
            return 1
        text = config_text(peers, base)
    except (SignalsFileError, SignalsError, SettingsError) as exc:
        print(f"pulse peers: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = exc.filename or args.events
        print(f"pulse peers: error: cannot use {where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        args.out.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"pulse peers: error: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}\n{USE}")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "peers",
        help="learn a peer table (use by size band) from your history, for peer percentiles",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("events", type=Path, help="events, JSON lines of {topic, value}")
    parser.add_argument("--out", type=Path, required=True, help="write the configuration here")
    parser.add_argument(
        "--config", type=Path, help="signals configuration to build on (its settings are kept)"
    )
    parser.add_argument(
        "--bands",
        type=_bands,
        default=DEFAULT_BANDS,
        help="seat counts where a band starts (default: 10,50,200)",
    )
    parser.add_argument(
        "--min-peers",
        type=at_least_one,
        default=MIN_PEERS,
        help=f"fewest customers a band needs for percentiles (default: {MIN_PEERS})",
    )
    parser.add_argument(
        "--processes",
        type=processes_arg,
        default=available_cores(),
        help="processes to split the replay's accounts over (default: this machine's cores, "
        "%(default)s)",
    )
    parser.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress on stderr"
    )
    parser.set_defaults(func=_command)
