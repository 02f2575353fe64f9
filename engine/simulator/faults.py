"""Delivery faults real pipelines have: late events, duplicates, and malformed messages.

The engine must give the same answer whatever the arrival order within its
lateness bound and however often an event id repeats, and must dead-letter
garbage without stopping; the simulator injects each at a configurable rate.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson

_LATE_MIN = timedelta(minutes=5)
_LATE_MAX = timedelta(hours=6)
_DUPLICATE_MAX = timedelta(minutes=20)

Fault = Literal["late", "duplicate", "malformed"]


@dataclass(frozen=True)
class Emission:
    """One message to put on the stream at simulated time `at`."""

    at: datetime
    value: bytes
    fault: Fault | None = None


def _shape_fields(message: dict[str, Any]) -> tuple[str, str]:
    """The id and event-time fields of a message, whatever its shape."""
    if "messageId" in message:
        return "messageId", "timestamp"
    if message.get("object") == "event":
        return "id", "created"
    return "event_id", "occurred_at"


class FaultInjector:
    """Decides, from its own random stream, which messages arrive late, twice or corrupted."""

    def __init__(
        self, rng: random.Random, *, late_rate: float, duplicate_rate: float, malformed_rate: float
    ) -> None:
        self._rng = rng
        self._late_rate = late_rate
        self._duplicate_rate = duplicate_rate
        self._malformed_rate = malformed_rate

    def emissions(
        self, occurred_at: datetime, value: bytes, message: dict[str, Any]
    ) -> list[Emission]:
        """The message as delivered: maybe late, maybe twice, maybe followed by a corrupt copy."""
        rng = self._rng
        late = rng.random() < self._late_rate
        at = occurred_at + self._late_by() if late else occurred_at
        delivered = [Emission(at, value, "late" if late else None)]
        if rng.random() < self._duplicate_rate:
            delay = rng.uniform(0.001, 1) * _DUPLICATE_MAX
            delivered.append(Emission(at + delay, value, "duplicate"))
        if rng.random() < self._malformed_rate:
            delivered.append(Emission(at, self._malform(message, value), "malformed"))
        return delivered

    def _late_by(self) -> timedelta:
        """Log-uniform between minutes and hours: most late events are a little late."""
        low, high = math.log(_LATE_MIN.total_seconds()), math.log(_LATE_MAX.total_seconds())
        return timedelta(seconds=round(math.exp(self._rng.uniform(low, high)), 3))

    def _malform(self, message: dict[str, Any], value: bytes) -> bytes:
        """Truncated JSON, a required field missing, or an id of the wrong type."""
        id_field, time_field = _shape_fields(message)
        flaw = self._rng.choice(("bad_json", "missing_field", "wrong_type"))
        if flaw == "bad_json":
            return value[: self._rng.randint(1, len(value) - 1)]
        if flaw == "missing_field":
            # Segment's messageId is optional (Pulse derives one from the content),
            # so a Segment call loses its time instead.
            missing = self._rng.choice(
                (time_field,) if id_field == "messageId" else (id_field, time_field)
            )
            return orjson.dumps({k: v for k, v in message.items() if k != missing})
        return orjson.dumps(message | {id_field: self._rng.randrange(1, 10**9)})
