"""What a worker sends, and what it counts as it goes.

Triggers to their kind's topic; a cancellation's record to the outcomes topic, once
(signals.cancellations); a health snapshot when it is worth publishing
(signals.driver's rule: a band change, a move of enough points, at least daily);
dead letters with their reason and where the message first entered Pulse; the
account's view to the Redis projection. Every message produced joins the sending
agent's deliveries (engine.transport.delivery), so a batch is acknowledged only once the
broker has what it produced.
"""

from __future__ import annotations

import logging
import time
from binascii import a2b_base64
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from engine.envelope import Published
from engine.metrics import Metrics
from engine.transport.delivery import track
from engine.view import account_view
from signals.core import Outcome, SignalProcessor
from signals.driver import worth_publishing
from signals.errors import Rejection
from signals.state import from_micros, micros
from topics.catalogue import TopicKind
from topics.codec import dead_letter, encode, encode_key
from topics.errors import PulseIgnored
from topics.models import HealthSnapshot

log = logging.getLogger(__name__)

ORIGIN_HEADER = "pulse-origin"
"""Where a message first entered Pulse (``topic:partition:offset``), kept across the
internal topics so a dead letter names the producer's message."""
TRIGGER_TOPICS = {
    "churn_risk": TopicKind.CHURN_RISK,
    "expansion": TopicKind.EXPANSION,
    "advocacy": TopicKind.ADVOCACY,
}
OUTPUT_KINDS = (
    *TRIGGER_TOPICS.values(),
    TopicKind.HEALTH,
    TopicKind.OUTCOMES,
    TopicKind.DEAD_LETTER,
)
IGNORED_SAMPLES = 1000
"""Distinct ignored event types whose first occurrence is logged as a sample."""


def origin(message: Any) -> tuple[str, int, int]:
    """Where a message first entered Pulse, carried through internal topics in headers."""
    for header, raw in message.headers or ():
        if header == ORIGIN_HEADER:
            topic, partition, offset = raw.decode().rsplit(":", 2)
            return topic, int(partition), int(offset)
    return message.topic, message.partition, message.offset


def origin_text(message: Any) -> str:
    """``origin`` as "topic:partition:offset"."""
    topic, partition, offset = origin(message)
    return f"{topic}:{partition}:{offset}"


def origin_header(message: Any) -> tuple[str, bytes]:
    return ORIGIN_HEADER, origin_text(message).encode()


KIND_HEADER = "pulse-kind"


def kind_headers(kind: TopicKind) -> list[tuple[str, bytes]]:
    """The header that carries a message's input kind through a detour."""
    return [(KIND_HEADER, kind.value.encode())]


def header_kind(message: Any) -> TopicKind | None:
    """The input kind a detoured message carries in its headers, if any."""
    for header, raw in message.headers or ():
        if header == KIND_HEADER:
            return TopicKind(raw.decode())
    return None


async def send(topic: Any, **message: Any) -> None:
    """Produce, and track the message until the batch settles (engine.transport.delivery)."""
    track(await topic.send(**message))


class Publisher:
    """Sends a worker's outputs (``outputs``: a faust topic per output kind)."""

    def __init__(
        self,
        outputs: Mapping[TopicKind, Any],
        processor: SignalProcessor,
        metrics: Metrics,
        *,
        publish_points: float,
        keep_bytes: int,
    ) -> None:
        self.outputs = outputs
        self.processor = processor
        self.metrics = metrics
        self.publish_points = publish_points
        self.keep_bytes = keep_bytes
        """How much of a dead-lettered message's bytes the letter keeps."""
        self.view_sink: Any = None
        """An engine.redis_view.RedisProjection, set by the runner (None: no view)."""
        self._counters: dict[tuple[str, str], Any] = {}
        self._ignored: set[str] = set()

    async def publish(
        self, outcome: Outcome, published: Published, ingested_ms: int | None, wall: datetime
    ) -> None:
        """An outcome's triggers, then its health snapshot if worth publishing, then the
        account's view; ``published`` is the account's memory of its last snapshot."""
        snapshot: HealthSnapshot | None = None
        for trigger in outcome.triggers:
            sent = trigger.model_copy(update={"emitted_at": wall})
            await send(
                self.outputs[TRIGGER_TOPICS[trigger.kind]],
                key=encode_key(trigger.account_id),
                value=encode(sent),
            )
            self.metrics.triggers.labels(rule=trigger.rule_id, kind=trigger.kind).inc()
            self.metrics.event_to_trigger.observe(
                max(0.0, (wall - trigger.fired_at).total_seconds())
            )
            if ingested_ms is not None:
                self.metrics.ingest_to_trigger.observe(max(0.0, time.time() - ingested_ms / 1000))
            if trigger.health is not None:
                snapshot = trigger.health
        for record in outcome.cancellations:
            await send(
                self.outputs[TopicKind.OUTCOMES],
                key=encode_key(record.account_id),
                value=encode(record.model_copy(update={"emitted_at": wall})),
            )
            self.metrics.cancellations.labels(
                churn="trial" if record.trial else "paid",
                warned="yes" if record.prior_alerts else "no",
            ).inc()
        if snapshot is None and outcome.health is not None:
            score = outcome.health
            if self._worth_publishing(published, score.score, score.band, score.as_of):
                snapshot = self.processor.snapshot(outcome.state, score)
        if snapshot is not None and self._worth_publishing(
            published, snapshot.score, snapshot.band, snapshot.as_of
        ):
            value = encode(snapshot)
            await send(
                self.outputs[TopicKind.HEALTH], key=encode_key(snapshot.account_id), value=value
            )
            self.metrics.health_band_accounts.labels(band=snapshot.band).inc()
            if published.band != "unknown" and published.at_us >= 0:
                self.metrics.health_band_accounts.labels(band=published.band).dec()
            published.score, published.band = snapshot.score, snapshot.band
            published.at_us = micros(snapshot.as_of)
            published.snapshot = value
        if outcome.notes:
            self.count_notes(outcome)
            if snapshot is None:  # a snooze or feedback: the view shows it at once
                snapshot = self._last_snapshot(outcome, published)
        if snapshot is not None and self.view_sink is not None:
            self.view_sink.submit(account_view(outcome.state, snapshot, outcome.triggers))

    def count_notes(self, outcome: Outcome) -> None:
        """Count what commands did and the triggers snoozes held back (signals.commands)."""
        metrics = self.metrics
        for note in outcome.notes:
            if note.kind == "suppressed":
                metrics.triggers_suppressed.labels(rule=note.rule_id).inc()
            elif note.kind == "trigger_feedback":
                metrics.trigger_feedback.labels(rule=note.rule_id, verdict=note.verdict).inc()
            if note.kind not in ("suppressed", "override_lapsed", "snooze_lapsed"):
                metrics.commands_applied.labels(type=note.kind).inc()

    def _last_snapshot(self, outcome: Outcome, published: Published) -> HealthSnapshot:
        """The account's last published health, or its health now when none was."""
        if published.snapshot:
            return HealthSnapshot.model_validate_json(published.snapshot)
        state = outcome.state
        return self.processor.health(state, from_micros(max(state.clock_us, 0)))

    def _worth_publishing(
        self, published: Published, score: float | None, band: str, as_of: datetime
    ) -> bool:
        """signals.driver's rule, with this deployment's points."""
        return worth_publishing(published, score, band, as_of, self.publish_points)

    async def dead_letter(
        self, message: Any, key: bytes | None, value: bytes | None, kind: str, reason: str
    ) -> None:
        """Send a message that cannot be used to the dead-letter topic, with its reason."""
        await self.dead_letter_from(origin(message), key, value, kind, reason)

    async def refused(
        self,
        rejections: Iterable[Rejection],
        kind: str | None,
        message: Any | None = None,
        key: bytes | None = None,
        value: bytes | None = None,
    ) -> None:
        """Dead-letter what the core refused (duplicates are only counted, under the input
        ``kind`` when known): a held command with the message it came in
        (``Rejection.source``), anything else with ``message``, the one being handled."""
        for rejection in rejections:
            if rejection.kind == "duplicate":
                if kind is not None:
                    self.count_in(kind, "duplicate")
            elif rejection.source is not None:
                topic, partition, offset = rejection.source.rsplit(":", 2)
                original = a2b_base64(rejection.original_b64 or "")
                entered = (topic, int(partition), int(offset))
                await self.dead_letter_from(
                    entered, key, original, rejection.kind, rejection.message
                )
            elif message is not None:
                await self.dead_letter(message, key, value, rejection.kind, rejection.message)
            else:
                log.error("refused with no message to dead-letter: %s", rejection)

    async def dead_letter_from(
        self,
        entered: tuple[str, int, int],
        key: bytes | None,
        value: bytes | None,
        kind: str,
        reason: str,
    ) -> None:
        """A dead letter for the message that entered Pulse at ``entered`` (topic,
        partition, offset)."""
        topic, partition, offset = entered
        letter = dead_letter(
            value or b"",
            key,
            topic=topic,
            partition=partition,
            offset=offset,
            error_kind=kind,
            error_message=reason,
            received_at=datetime.now(UTC),
            keep_bytes=self.keep_bytes,
        )
        self.metrics.invalid_events.labels(reason=kind).inc()
        await send(self.outputs[TopicKind.DEAD_LETTER], key=key, value=encode(letter))

    def ignore(self, topic: str, exc: PulseIgnored) -> None:
        """Count a deliberately unused event by type; log the first of each type as a sample."""
        self.metrics.ignored_events.labels(topic=topic, type=exc.kind).inc()
        if exc.kind not in self._ignored and len(self._ignored) < IGNORED_SAMPLES:
            self._ignored.add(exc.kind)
            log.info(
                "ignoring %s events on %s (counted, not dead-lettered): %s",
                exc.kind,
                topic,
                exc.reason,
            )

    def count_in(self, topic: str, kind: str) -> None:
        """pulse_events_in_total{topic=<input kind>, kind=received|duplicate|<event type>}
        (label children cached: looking them up was 3% of a busy worker)."""
        counter = self._counters.get((topic, kind))
        if counter is None:
            counter = self._counters[topic, kind] = self.metrics.events_in.labels(
                topic=topic, kind=kind
            )
        counter.inc()
