"""What a worker stores per account: the signals state, what it last published, its clock.

One table value per account keeps one changelog message per update; the
engine's few bytes of publishing memory ride in front of the core's state.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from signals.state import AccountState
from topics.errors import PulseError

_FORMAT = 1
_HEADER = struct.Struct(">BdBqq?")
BANDS = ("unknown", "green", "yellow", "red")


class EnvelopeError(PulseError):
    """A stored account value this version cannot read."""


@dataclass(slots=True)
class Published:
    """The last health snapshot a worker published for an account."""

    score: float | None = None
    band: str = "unknown"
    at_us: int = -1
    """Event time (µs since the epoch) of that snapshot; -1 when none was published."""
    tick_us: int = -1
    """The account's last clock tick (µs since the epoch); -1 before its first event."""
    ticked: bool = False
    """Whether any tick ran; until then an older event may still move ``tick_us`` back."""


def pack(published: Published, state: AccountState) -> bytes:
    score = math.nan if published.score is None else published.score
    header = _HEADER.pack(
        _FORMAT,
        score,
        BANDS.index(published.band),
        published.at_us,
        published.tick_us,
        published.ticked,
    )
    return header + state.to_bytes()


def unpack(data: bytes) -> tuple[Published, AccountState]:
    if len(data) < _HEADER.size or data[0] != _FORMAT:
        version = data[0] if data else None
        msg = f"stored account value has format {version!r}; this worker reads format {_FORMAT}"
        raise EnvelopeError(msg)
    _, score, band, at_us, tick_us, ticked = _HEADER.unpack_from(data)
    published = Published(None if math.isnan(score) else score, BANDS[band], at_us, tick_us, ticked)
    return published, AccountState.from_bytes(data[_HEADER.size :])
