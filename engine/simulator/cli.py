"""`pulse simulate`: a synthetic customer base's quarter, to a replay file or onto Kafka."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson
from aiokafka.errors import KafkaError

from engine.settings import SettingsError, load_settings
from engine.simulator.generator import DEFAULT_START, PRESETS, Simulation, SimulationConfig
from engine.simulator.population import DEFAULT_PERSONA_MIX, Persona
from engine.simulator.writers import Pacer, Progress, produce, write_replay
from topics.errors import PulseValidationError


def parse_mix(text: str) -> dict[Persona, float]:
    """`declining_then_cancelling=0.3,trial_never_adopts=0` over the default mix."""
    mix = dict(DEFAULT_PERSONA_MIX)
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, weight = item.partition("=")
        try:
            mix[Persona(name.strip())] = float(weight)
        except ValueError:
            names = ", ".join(p.value for p in Persona)
            msg = f"expected PERSONA=WEIGHT with a persona among {names}, got {item!r}"
            raise argparse.ArgumentTypeError(msg) from None
    return mix


def parse_start(text: str) -> datetime:
    """An ISO date or UTC datetime such as 2026-07-01 or 2026-07-01T00:00Z."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        msg = f"expected an ISO date such as 2026-07-01, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        msg = f"must be between 0 and 1, got {text}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        msg = f"must be positive, got {text}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _command(args: argparse.Namespace) -> int:
    if args.mix is not None and args.preset != "easy":
        print("pulse simulate: error: --mix applies to --preset easy only", file=sys.stderr)
        return 2
    try:
        config = SimulationConfig(
            accounts=args.accounts,
            days=args.days,
            seed=args.seed,
            start=args.start,
            preset=args.preset,
            persona_mix=args.mix if args.mix is not None else dict(DEFAULT_PERSONA_MIX),
            segment_share=args.segment_share,
            stripe_share=args.stripe_share,
            user_only_share=args.user_only_share,
            late_rate=args.late_rate,
            duplicate_rate=args.duplicate_rate,
            malformed_rate=args.malformed_rate,
        )
    except ValueError as exc:
        print(f"pulse simulate: error: {exc}", file=sys.stderr)
        return 2
    simulation = Simulation(config)
    if args.truth is not None:
        document = orjson.dumps(
            simulation.truth_document(), option=orjson.OPT_INDENT_2 | orjson.OPT_UTC_Z
        )
        args.truth.write_bytes(document + b"\n")
    progress = Progress()
    if args.out is not None:
        with args.out.open("wb") as out:
            write_replay(simulation.records(), out, progress)
        progress.done()
        return 0
    try:
        settings = load_settings()
        prefix = args.prefix or settings.topic_prefix
        pacer = Pacer(rate=args.rate, speed=args.speed)
        asyncio.run(produce(simulation.records(), settings, prefix, pacer=pacer, progress=progress))
    except (SettingsError, PulseValidationError) as exc:
        print(f"pulse simulate: error: {exc}", file=sys.stderr)
        return 2
    except KafkaError as exc:
        print(
            f"pulse simulate: error: Kafka at {settings.kafka_bootstrap}: {exc!r}", file=sys.stderr
        )
        return 2
    progress.done()
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "simulate",
        help="generate a synthetic customer base's events, to a file or onto Kafka",
        description="Simulate N SaaS accounts. The realistic preset (default) has mostly small "
        "accounts on monthly and annual contracts, trials, confounders that look like churn and "
        "stay, churn that is hard to see, and expansions; the easy preset has personas on which "
        "every rule fires (healthy, declining then cancelling, payment trouble, growing past "
        "limits, promoter, trial never adopting, noisy but recovering). Deterministic from the "
        "seed. Writes replay lines to --out, or produces to the input topics with --kafka; "
        "--truth writes who cancelled when.",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", type=Path, help="write replay JSON lines to this file")
    target.add_argument("--kafka", action="store_true", help="produce to the input topics")
    parser.add_argument("--truth", type=Path, help="write the ground truth (JSON) to this file")
    parser.add_argument("--accounts", type=int, default=1000, help="accounts (default 1000)")
    parser.add_argument("--days", type=int, default=90, help="simulated days (default 90)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument(
        "--preset",
        choices=PRESETS,
        default="realistic",
        help="population: realistic (default) or easy (every rule fires on someone)",
    )
    parser.add_argument(
        "--start",
        type=parse_start,
        default=DEFAULT_START,
        help="first simulated day, UTC midnight (default 2026-07-01)",
    )
    parser.add_argument(
        "--mix",
        type=parse_mix,
        default=None,
        metavar="PERSONA=WEIGHT,...",
        help="with --preset easy: persona weights over the default mix ("
        + ", ".join(f"{p.value}={w:g}" for p, w in DEFAULT_PERSONA_MIX.items())
        + ")",
    )
    parser.add_argument(
        "--segment-share",
        type=_share,
        default=0.5,
        help="share of accounts sending Segment calls (0.5)",
    )
    parser.add_argument(
        "--stripe-share",
        type=_share,
        default=0.5,
        help="share of accounts billed through Stripe (0.5)",
    )
    parser.add_argument(
        "--user-only-share",
        type=_share,
        default=0.3,
        help="share of a Segment account's track calls with only a userId (0.3)",
    )
    parser.add_argument(
        "--late-rate", type=_share, default=0.02, help="share of late events (0.02)"
    )
    parser.add_argument(
        "--duplicate-rate", type=_share, default=0.01, help="share of events sent twice (0.01)"
    )
    parser.add_argument(
        "--malformed-rate", type=_share, default=0.001, help="malformed messages per event (0.001)"
    )
    parser.add_argument(
        "--prefix", help="topic prefix with --kafka (default: PULSE_TOPIC_PREFIX or pulse)"
    )
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--rate", type=_positive, help="with --kafka: target events per second")
    pace.add_argument(
        "--speed",
        type=_positive,
        help="with --kafka: simulated time runs this many times faster than real time "
        "(e.g. 129600 plays 90 days in a minute)",
    )
    parser.set_defaults(func=_command)
