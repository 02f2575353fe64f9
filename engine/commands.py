"""Giving commands: building them from what a person typed or posted, and producing them.

The CLI (``engine.commands_cli``) and the HTTP write paths (``engine.web``) both build a
command with ``build`` (the models in ``topics.models.commands`` validate it) and send it
with ``CommandSender``: keyed by account, acknowledged by every in-sync replica before
the caller hears "sent", produced once per command id even when retried.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from engine.kafka import client_kwargs
from engine.settings import Settings
from topics.catalogue import TopicKind, topic_name
from topics.codec import encode, encode_key
from topics.errors import PulseValidationError
from topics.models import COMMANDS_BY_TYPE, Command

__all__ = ["CommandSender", "Sent", "build"]


def build(kind: str, fields: dict[str, Any], *, now: datetime | None = None) -> Command:
    """A command of type ``kind``; a fresh ``command_id`` and ``occurred_at`` = now unless
    given. Raises PulseValidationError naming the field at fault."""
    model = COMMANDS_BY_TYPE.get(kind)
    if model is None:
        raise PulseValidationError("type", f"must be one of {', '.join(sorted(COMMANDS_BY_TYPE))}")
    given = {k: v for k, v in fields.items() if v is not None}
    given.setdefault("command_id", f"cmd-{uuid.uuid4()}")
    given.setdefault("occurred_at", now or datetime.now(UTC))
    try:
        command = cast(Command, model.model_validate(given | {"type": kind}))
    except ValidationError as exc:
        raise PulseValidationError.from_pydantic(exc) from None
    return command


class Sent(NamedTuple):
    """Where a produced command landed."""

    topic: str
    partition: int
    offset: int


class CommandSender:
    """Produces commands to the commands topic with acks from all in-sync replicas."""

    def __init__(self, settings: Settings, *, timeout: float = 10.0) -> None:
        self.topic = topic_name(TopicKind.COMMANDS, settings.topic_prefix)
        self.client = client_kwargs(settings)
        self.timeout = timeout
        self._producer: AIOKafkaProducer | None = None

    async def __aenter__(self) -> CommandSender:
        producer = AIOKafkaProducer(
            **self.client,
            acks="all",
            enable_idempotence=True,
            request_timeout_ms=int(self.timeout * 1000),
        )
        try:
            await producer.start()
        except (KafkaError, OSError):
            await producer.stop()
            raise
        self._producer = producer
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def send(self, command: Command) -> Sent:
        if self._producer is None:
            raise RuntimeError("CommandSender used outside 'async with'")
        record = await self._producer.send_and_wait(
            self.topic, encode(command), key=encode_key(command.account_id)
        )
        return Sent(self.topic, record.partition, record.offset)
