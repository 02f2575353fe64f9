"""What a worker stores per account: the signals state, what it last published, its clock.

One table value per account keeps one changelog message per update; the
engine's few bytes of publishing memory ride in front of the core's state.

Format 3 compresses the state with Zstandard (level 1): the core's JSON of a typical
account (1,000 simulated accounts, 30 days) is 3.4 KB, compressed 1.4 KB. That is what
the changelog, the local store and a recovery carry. zlib at level 1 (format 2) gave
the same size for twice the time, compressing (56 against 27 µs) and reading back
(18 against 11 µs); a worker compresses an account after every change. Formats 1 (the
state as it is) and 2 are still read, so stores written by earlier versions load.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass

import zstandard

from signals.state import AccountState
from topics.errors import PulseError

_FORMAT = 3
_PLAIN = 1
_DEFLATED = 2
_LEVEL = 1
"""Zstandard level: 1 compresses the state's JSON to 43%; level 3 gains 2% for 20% more time."""
_MAX_STATE_BYTES = 64 * 1024 * 1024
"""A damaged value must not make a worker allocate without bound."""
_compressor = zstandard.ZstdCompressor(level=_LEVEL)
_decompressor = zstandard.ZstdDecompressor()
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
    return header + _compressor.compress(state.to_bytes())


def unpack(data: bytes) -> tuple[Published, AccountState]:
    if len(data) < _HEADER.size or data[0] not in (_FORMAT, _DEFLATED, _PLAIN):
        version = data[0] if data else None
        msg = (
            f"stored account value has format {version!r}; "
            f"this worker reads formats {_PLAIN}, {_DEFLATED} and {_FORMAT}"
        )
        raise EnvelopeError(msg)
    version, score, band, at_us, tick_us, ticked = _HEADER.unpack_from(data)
    published = Published(None if math.isnan(score) else score, BANDS[band], at_us, tick_us, ticked)
    body = data[_HEADER.size :]
    try:
        if version == _FORMAT:
            body = _decompressor.decompress(body, max_output_size=_MAX_STATE_BYTES)
        elif version == _DEFLATED:
            body = zlib.decompress(body)
    except (zstandard.ZstdError, zlib.error) as exc:
        msg = f"stored account value (format {version}) is not compressed state: {exc}"
        raise EnvelopeError(msg) from exc
    return published, AccountState.from_bytes(body)
