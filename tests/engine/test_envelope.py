"""engine.envelope: what a worker stores per account, compressed, and older values still read."""

from __future__ import annotations

import struct
import zlib

import pytest
import zstandard

from engine.envelope import EnvelopeError, Published, pack, unpack
from signals.config import SignalsConfig
from signals.replay import replay
from signals.rules import default_rules
from signals.state import AccountState
from tests.signals.factories import at, login, nps, ticket, usage
from topics.models import InputEvent


def busy_account() -> AccountState:
    """Two months of an account with a dozen users, tickets and surveys."""
    events: list[tuple[str, InputEvent]] = []
    for day in range(60):
        for user in range(12):
            events.append(("usage", login(at(day, 9 + user / 10), user=f"u{user}")))
            events.append(
                ("usage", usage("Feature Used", at(day, 10 + user / 10), user=f"u{user}"))
            )
        if day % 9 == 0:
            events.append(("tickets", ticket("opened", at(day, 15), f"t{day}")))
        if day % 20 == 0:
            events.append(("feedback", nps(day % 11, at(day, 16))))
    result = replay(events, SignalsConfig(), default_rules())
    (state,) = result.states.values()
    return state


def test_a_stored_account_reads_back_as_it_was_written() -> None:
    state = busy_account()
    snapshot = b'{"account_id":"acct-1","score":61.5}'
    published = Published(
        score=61.5, band="yellow", at_us=123, tick_us=456, ticked=True, snapshot=snapshot
    )
    again_published, again = unpack(pack(published, state))
    assert again == state
    assert again_published == published
    assert unpack(pack(Published(), state))[0].snapshot == b""


def test_the_stored_state_is_compressed() -> None:
    state = busy_account()
    stored = pack(Published(), state)
    assert len(stored) < 0.7 * len(state.to_bytes())


def test_values_stored_by_earlier_versions_are_still_read() -> None:
    state = busy_account()
    header = struct.pack(">BdBqq?", 1, 70.0, 1, 5, 6, False)  # format 1: the state as it is
    published, again = unpack(header + state.to_bytes())
    assert again == state
    assert (published.score, published.band, published.tick_us) == (70.0, "green", 6)
    header = struct.pack(">BdBqq?", 2, 40.0, 3, 5, 7, True)  # format 2: deflated
    published, again = unpack(header + zlib.compress(state.to_bytes(), 1))
    assert again == state
    assert (published.score, published.band, published.tick_us) == (40.0, "red", 7)
    header = struct.pack(">BdBqq?", 3, 55.0, 2, 5, 8, True)  # format 3: zstd, no snapshot
    published, again = unpack(header + zstandard.ZstdCompressor().compress(state.to_bytes()))
    assert again == state
    assert (published.band, published.tick_us, published.snapshot) == ("yellow", 8, b"")


def test_an_unknown_or_damaged_value_is_a_clear_error() -> None:
    stored = pack(Published(), busy_account())
    with pytest.raises(EnvelopeError, match="format 9"):
        unpack(bytes([9]) + stored[1:])
    with pytest.raises(EnvelopeError, match=r"\(format 4\) is not compressed state"):
        unpack(stored[:40] + b"\x00garbage")
    with pytest.raises(EnvelopeError, match=r"\(format 4\) is cut short"):
        unpack(stored[: struct.calcsize(">BdBqq?") + 2])
    with pytest.raises(EnvelopeError, match=r"\(format 2\) is not compressed state"):
        unpack(bytes([2]) + stored[1:])
    body = stored[struct.calcsize(">BdBqq?I") :]
    assert zstandard.ZstdDecompressor().decompress(body)  # the body is a plain zstd frame
