"""`pulse tail` and `pulse account ID`: triggers (and, asked, cancellations) as they arrive,
and one account's view."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from engine.kafka import client_kwargs
from engine.redis_view import read_account
from engine.settings import SettingsError, load_settings
from topics.catalogue import TopicKind, topic_name
from topics.codec import decode_output
from topics.errors import PulseValidationError
from topics.models import Cancellation, Trigger

_TRIGGER_KINDS = (TopicKind.CHURN_RISK, TopicKind.EXPANSION, TopicKind.ADVOCACY)


def render(trigger: Trigger) -> str:
    """One readable block per trigger: what, who, why, and what to do."""
    health = trigger.health
    score = f"{health.score:.0f} {health.band}" if health and health.score is not None else "n/a"
    if health and health.provisional:
        # Rules never act on such a score (signals.health): say so, or "red" misleads.
        missing = ", ".join(health.missing_components) or "too little history"
        score += f" (provisional: {missing} not known yet)"
    lines = [
        f"{trigger.fired_at:%Y-%m-%d %H:%M} {trigger.kind.upper():<10} {trigger.severity:<8} "
        f"{trigger.account_id}  {trigger.rule_id} v{trigger.rule_version}"
        + (f"  (revises {trigger.revision_of})" if trigger.revision_of else ""),
        f"    {trigger.explanation}",
        f"    health {score}; play: {trigger.recommended_play}; owner: {trigger.csm_owner or '-'}",
    ]
    lines += [
        f"    - {e.metric} {e.value} {e.comparison} {e.threshold} {e.window}".rstrip()
        for e in trigger.evidence
    ]
    return "\n".join(lines)


def render_cancellation(record: Cancellation) -> str:
    """One readable block per cancellation: who left, what was lost, what Pulse said first."""
    churn = "trial lapse" if record.trial else "paid churn"
    mrr = "" if record.mrr is None else f", MRR {record.mrr:,.0f}"
    scheduled = ", scheduled ahead" if record.scheduled else ""
    alerts = ", ".join(
        f"{a.rule_id} {(record.cancelled_at - a.fired_at).days} d before"
        for a in record.prior_alerts
    )
    return "\n".join(
        [
            f"{record.cancelled_at:%Y-%m-%d %H:%M} CANCELLED  {churn:<10} {record.account_id}"
            f"  ({record.plan or 'plan unknown'}{mrr}{scheduled}); owner: "
            f"{record.csm_owner or '-'}",
            f"    churn-risk alerts in the {record.horizon_days} days before: "
            + (alerts or "none"),
        ]
    )


async def follow(args: argparse.Namespace) -> int:
    settings = load_settings()
    kinds = (*_TRIGGER_KINDS, TopicKind.OUTCOMES) if args.outcomes else _TRIGGER_KINDS
    topics = {topic_name(kind, settings.topic_prefix): kind for kind in kinds}
    consumer = AIOKafkaConsumer(
        *topics,
        **client_kwargs(settings),
        group_id=None,
        auto_offset_reset="earliest" if args.from_beginning else "latest",
    )
    await consumer.start()
    shown = 0
    try:
        while args.limit is None or shown < args.limit:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    try:
                        trigger = decode_output(topics[record.topic], record.value or b"")
                    except PulseValidationError as exc:
                        print(
                            f"unreadable message on {record.topic}@{record.offset}: {exc}",
                            file=sys.stderr,
                        )
                        continue
                    if args.json:
                        print(orjson.dumps(trigger.model_dump(mode="json")).decode(), flush=True)
                    elif isinstance(trigger, Trigger):
                        print(render(trigger), flush=True)
                    elif isinstance(trigger, Cancellation):
                        print(render_cancellation(trigger), flush=True)
                    shown += 1
    finally:
        await consumer.stop()
    return 0


def _tail(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(follow(args))
    except SettingsError as exc:
        print(f"pulse tail: error: {exc}", file=sys.stderr)
    except KafkaError as exc:
        print(f"pulse tail: error: Kafka: {exc!r}", file=sys.stderr)
    except KeyboardInterrupt:
        return 0
    return 2


async def fetch_view(account_id: str) -> Any:
    settings = load_settings()
    client = aioredis.Redis.from_url(settings.redis_url.get_secret_value(), socket_timeout=5)
    try:
        document = await read_account(client, account_id, prefix=settings.redis_prefix)
    finally:
        await client.aclose()
    return None if document is None else orjson.loads(document)


def _account(args: argparse.Namespace) -> int:
    try:
        view = asyncio.run(fetch_view(args.account_id))
    except SettingsError as exc:
        print(f"pulse account: error: {exc}", file=sys.stderr)
        return 2
    except (RedisError, OSError) as exc:
        print(f"pulse account: error: Redis: {exc}", file=sys.stderr)
        return 2
    if view is None:
        print(f"pulse account: no view for account {args.account_id!r}", file=sys.stderr)
        return 1
    print(orjson.dumps(view, option=orjson.OPT_INDENT_2).decode())
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tail = sub.add_parser("tail", help="follow the trigger topics and print each trigger")
    tail.add_argument("--json", action="store_true", help="one JSON object per line")
    tail.add_argument("--from-beginning", action="store_true", help="start at the oldest")
    tail.add_argument("--limit", type=int, help="stop after this many messages")
    tail.add_argument(
        "--outcomes",
        action="store_true",
        help="also follow the outcomes topic: each cancellation, with the alerts before it",
    )
    tail.set_defaults(func=_tail)
    account = sub.add_parser("account", help="print an account's view (health, triggers)")
    account.add_argument("account_id")
    account.set_defaults(func=_account)
