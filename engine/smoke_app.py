"""A minimal faust app for the smoke pipeline: topic A -> agent -> topic B.

It proves a real faust worker consumes from and produces to the local broker.
Configured from the environment because faust's CLI imports it by name:
PULSE_SMOKE_BROKER, PULSE_SMOKE_APP_ID, PULSE_SMOKE_IN, PULSE_SMOKE_OUT.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import faust


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        msg = f"smoke app: environment variable {name} is required"
        raise SystemExit(msg)
    return value


app = faust.App(
    _env("PULSE_SMOKE_APP_ID"),
    broker=f"kafka://{_env('PULSE_SMOKE_BROKER')}",
    store="memory://",
    web_enabled=False,
    topic_replication_factor=1,
)
source = app.topic(_env("PULSE_SMOKE_IN"), key_type=bytes, value_type=bytes, value_serializer="raw")
sink = app.topic(_env("PULSE_SMOKE_OUT"), key_type=bytes, value_type=bytes, value_serializer="raw")


@app.agent(source)
async def transform(stream: faust.StreamT[Any]) -> AsyncIterator[None]:
    """Upper-case each payload and forward it under the same key."""
    async for event in stream.events():
        value: bytes = event.value
        await sink.send(key=event.key, value=value.upper())
        yield None
