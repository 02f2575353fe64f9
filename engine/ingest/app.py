"""The bridge's HTTP surface: POST /stripe, POST /segment (also /rudderstack), /healthz, /metrics.

Each accepted event is produced to its input topic: a Stripe event with the
request's original bytes, a Segment/RudderStack call as sent (a `/v1/batch`
envelope is split into its calls, each re-encoded with the envelope's
context). The key is the event's account when it can be read (so the worker
need not re-key it), else its user, else its id. Bad signature or secret:
401 and a metric. Broker not acknowledging: 503, so the sender retries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from engine.ingest.auth import ReplayGuard, SignatureError, segment_authorised, verify_stripe
from engine.ingest.publisher import BrokerUnavailable, Outgoing, Publisher
from signals.resolve import identity
from topics.adapters.segment import content_id, split_batch
from topics.codec import decode_billing, encode_key
from topics.errors import PulseError

__all__ = ["BridgeConfig", "build_app"]

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class BridgeConfig:
    billing_topic: str
    usage_topic: str
    stripe_secret: str | None
    segment_secret: str | None
    tolerance: float = 300.0
    stripe_options: dict[str, Any] = field(default_factory=dict)
    clock: Callable[[], float] = time.time


class BridgeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "pulse_ingest_requests_total",
            "Webhook requests by source and outcome",
            ["source", "outcome"],
            registry=registry,
        )
        self.events = Counter(
            "pulse_ingest_events_total",
            "Events produced to Kafka (acknowledged), by source",
            ["source"],
            registry=registry,
        )
        self.rejected_signatures = Counter(
            "pulse_ingest_bad_signatures_total",
            "Requests refused with 401: bad, expired or replayed signature, or wrong secret",
            ["source", "reason"],
            registry=registry,
        )
        self.latency = Histogram(
            "pulse_ingest_request_seconds",
            "From request received to answer, acknowledged events included",
            ["source"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
            registry=registry,
        )


class Bridge:
    def __init__(self, config: BridgeConfig, publisher: Publisher, metrics: BridgeMetrics) -> None:
        self.config = config
        self.publisher = publisher
        self.metrics = metrics
        self.replays = ReplayGuard()

    async def stripe(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        body = await request.read()
        if self.config.stripe_secret is None:
            return self._answer("stripe", 503, "no Stripe signing secret configured", started)
        try:
            signature = verify_stripe(
                request.headers.get("Stripe-Signature"),
                body,
                self.config.stripe_secret,
                now=self.config.clock(),
                tolerance=self.config.tolerance,
            )
            self.replays.check(signature)
        except SignatureError as exc:
            self.metrics.rejected_signatures.labels("stripe", exc.reason).inc()
            return self._answer("stripe", 401, f"signature refused: {exc}", started)
        try:
            event = orjson.loads(body)
            event_id = str(event["id"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return self._answer("stripe", 400, "not a Stripe event (JSON with an id)", started)
        outgoing = (self.config.billing_topic, self._stripe_key(body, event_id), body, event_id)
        status = await self._publish("stripe", [outgoing])
        if status == 200:
            self.replays.remember(signature)
        return self._answer("stripe", status, "ok" if status == 200 else "broker down", started)

    def _stripe_key(self, body: bytes, event_id: str) -> bytes:
        try:
            event = decode_billing(body, **self.config.stripe_options)
        except PulseError:  # ignored or invalid: the worker counts or dead-letters it
            return event_id.encode()
        # Without an account, by its customer: the worker resolves it through a link.
        return encode_key(event.account_id or identity(event))

    async def segment(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        body = await request.read()
        if self.config.segment_secret is None:
            return self._answer("segment", 503, "no Segment shared secret configured", started)
        if not segment_authorised(request.headers, body, self.config.segment_secret):
            self.metrics.rejected_signatures.labels("segment", "secret").inc()
            return self._answer("segment", 401, "signature or secret refused", started)
        try:
            message = orjson.loads(body)
            calls = split_batch(message) if isinstance(message, dict) else None
        except (orjson.JSONDecodeError, PulseError):
            calls = None
        if not calls:
            return self._answer("segment", 400, "expected a call or a {batch: [...]}", started)
        batched = "batch" in message
        outgoing = [self._segment_event(call, None if batched else body) for call in calls]
        status = await self._publish("segment", outgoing)
        return self._answer("segment", status, "ok" if status == 200 else "broker down", started)

    def _segment_event(self, call: dict[str, Any], original: bytes | None) -> Outgoing:
        value = original if original is not None else orjson.dumps(call)
        event_id = call.get("messageId") or content_id(call)
        context = call.get("context")
        group = context.get("groupId") if isinstance(context, dict) else None
        owner = call.get("groupId") or group
        owner = owner or call.get("userId") or call.get("anonymousId") or event_id
        return self.config.usage_topic, str(owner).encode(), value, f"segment:{event_id}"

    async def _publish(self, source: str, outgoing: list[Outgoing]) -> int:
        try:
            produced = await self.publisher.publish(outgoing)
        except BrokerUnavailable as exc:
            log.warning("ingest: broker unavailable, answering 503: %s", exc)
            return 503
        self.metrics.events.labels(source).inc(produced)
        return 200

    def _answer(self, source: str, status: int, text: str, started: float) -> web.Response:
        self.metrics.requests.labels(source, str(status)).inc()
        self.metrics.latency.labels(source).observe(time.perf_counter() - started)
        return web.json_response({"status": status, "message": text}, status=status)

    async def metrics_page(self, request: web.Request) -> web.Response:
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})


def build_app(config: BridgeConfig, publisher: Publisher) -> web.Application:
    bridge = Bridge(config, publisher, BridgeMetrics(CollectorRegistry()))
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.add_routes(
        [
            web.post("/stripe", bridge.stripe),
            web.post("/segment", bridge.segment),
            web.post("/rudderstack", bridge.segment),
            web.get("/healthz", bridge.health),
            web.get("/metrics", bridge.metrics_page),
        ]
    )

    async def close(app: web.Application) -> None:
        await publisher.close()

    app.on_cleanup.append(close)
    return app
