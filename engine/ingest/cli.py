"""`pulse ingest`: run the webhook bridge (settings from PULSE_* variables)."""

from __future__ import annotations

import argparse
import logging
import sys

from aiohttp import web

from engine.ingest.app import BridgeConfig, build_app
from engine.ingest.publisher import Publisher
from engine.kafka import client_kwargs
from engine.settings import Settings, SettingsError, load_settings
from topics.catalogue import TopicKind, topic_name

__all__ = ["add_parser", "bridge_app"]


def bridge_app(settings: Settings) -> web.Application:
    """The bridge's aiohttp application for these settings."""
    config = BridgeConfig(
        billing_topic=topic_name(TopicKind.BILLING, settings.topic_prefix),
        usage_topic=topic_name(TopicKind.USAGE, settings.topic_prefix),
        stripe_secret=(
            settings.stripe_webhook_secret.get_secret_value()
            if settings.stripe_webhook_secret
            else None
        ),
        segment_secret=(
            settings.segment_webhook_secret.get_secret_value()
            if settings.segment_webhook_secret
            else None
        ),
        tolerance=settings.stripe_signature_tolerance_seconds,
        stripe_options=settings.stripe_options,
    )
    publisher = Publisher(client_kwargs(settings), timeout=settings.ingest_ack_timeout_seconds)
    return build_app(config, publisher)


def _command(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.loglevel.upper(), format="%(asctime)s %(levelname)s %(message)s")
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"pulse ingest: {exc}", file=sys.stderr)
        return 2
    web.run_app(
        bridge_app(settings),
        host=settings.ingest_host,
        port=settings.ingest_port,
        print=lambda text: print(text, flush=True),
    )
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "ingest",
        help="run the webhook bridge: Stripe and Segment/RudderStack webhooks to Kafka",
        description="Accept signed Stripe webhooks on POST /stripe and Segment/RudderStack "
        "webhook destinations on POST /segment, and produce each event to its input topic, "
        "answering 2xx only once the broker has acknowledged it.",
    )
    parser.add_argument("--loglevel", default="info", choices=["debug", "info", "warning", "error"])
    parser.set_defaults(func=_command)
