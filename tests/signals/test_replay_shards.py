"""A replay split into shards of accounts, merged, is the replay of all accounts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.simulator import CORE_FEATURES, Simulation, SimulationConfig
from signals.config import SignalsConfig, UsageMapping
from signals.replay import Shard, merge, replay, replay_shard
from signals.rules import default_rules
from topics.codec import decode_input, encode
from topics.errors import PulseIgnored, PulseValidationError
from topics.models import InputEvent

CONFIG = SignalsConfig(usage=UsageMapping(core_features=CORE_FEATURES))
RULES = default_rules()


def _population(
    seed: int, preset: str, accounts: int = 16, days: int = 45
) -> list[tuple[str, InputEvent]]:
    events = []
    simulation = SimulationConfig(accounts=accounts, days=days, seed=seed, preset=preset)
    for record in Simulation(simulation).records():
        try:
            events.append((record.kind.value, decode_input(record.kind, record.value)))
        except (PulseValidationError, PulseIgnored):
            continue  # the simulator's malformed messages
    return events


@settings(max_examples=3, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    count=st.integers(2, 4),
    preset=st.sampled_from(["easy", "realistic"]),
)
def test_merged_shards_give_the_whole_replay_in_its_order(
    seed: int, count: int, preset: str
) -> None:
    events = _population(seed, preset)
    whole = replay(events, CONFIG, RULES)
    shards = [replay_shard(events, CONFIG, RULES, Shard(i, count)) for i in range(count)]
    merged = merge(shards)

    assert whole.triggers  # something to put in order
    assert whole.rejections
    assert sum(1 for s in shards if s.result.states) >= 2  # the accounts were really split
    assert [encode(t) for t in merged.triggers] == [encode(t) for t in whole.triggers]
    assert merged.rejections == whole.rejections
    assert [encode(c) for c in merged.cancellations] == [encode(c) for c in whole.cancellations]
    assert merged.summary == whole.summary
    assert list(merged.states) == list(whole.states)
    assert all(merged.states[a].to_bytes() == s.to_bytes() for a, s in whole.states.items())


def test_cancellation_records_made_in_several_shards_merge_into_the_whole_replays() -> None:
    """The property above may draw a population where nobody cancels; this one has
    cancellations made in more than one shard, so their merge order is really tested."""
    events = _population(3, "easy", accounts=24, days=60)
    whole = replay(events, CONFIG, RULES)
    shards = [replay_shard(events, CONFIG, RULES, Shard(i, 3)) for i in range(3)]

    assert len(whole.cancellations) >= 3
    assert sum(1 for s in shards if s.result.cancellations) >= 2
    merged = merge(shards).cancellations
    assert [encode(c) for c in merged] == [encode(c) for c in whole.cancellations]


def test_each_account_belongs_to_exactly_one_shard() -> None:
    shards = [Shard(i, 3) for i in range(3)]
    for account in ("acme", "globex", "acct-00042", "ünïcode", ""):
        assert sum(shard.owns(account) for shard in shards) == 1


def test_a_shard_outside_its_count_is_refused() -> None:
    with pytest.raises(ValueError, match="shard 3 of 3 does not exist"):
        Shard(3, 3)
    with pytest.raises(ValueError, match="no shards to merge"):
        merge([])
