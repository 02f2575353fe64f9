"""Peer percentiles: a frozen table per size band, and where an account stands in it."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from signals.config import SignalsConfig, load_config
from signals.core import SignalProcessor
from signals.errors import ConfigError
from signals.ingest import StateFolder
from signals.metrics import evaluate
from signals.metrics.peers import peer_sample
from signals.peers import (
    QUANTILES,
    PeersConfig,
    band_names,
    band_of,
    describe,
    learn,
    percentile,
    quantiles,
    standing,
)
from signals.rules import load_rules
from signals.state import AccountState
from tests.signals.factories import ACCOUNT, at, billing, login, subscription

EVEN = tuple(q / 100 for q in QUANTILES)
"""A band whose value at the q-th percentile is q/100."""


def _table(**bands: tuple[float, ...]) -> PeersConfig:
    return PeersConfig(percentiles={band_names((10, 50, 200))[0]: EVEN, **bands})


def test_bands_are_named_and_found_by_seats() -> None:
    assert band_names((10, 50, 200)) == ["1-9 seats", "10-49 seats", "50-199 seats", "200+ seats"]
    assert [band_of(s, (10, 50, 200)) for s in (1, 9, 10, 49, 50, 500)] == [
        "1-9 seats",
        "1-9 seats",
        "10-49 seats",
        "10-49 seats",
        "50-199 seats",
        "200+ seats",
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.25, 25.0), (0.125, 12.5), (-1.0, 0.0), (2.0, 100.0), (0.0, 0.0), (1.0, 100.0)],
)
def test_a_value_is_placed_between_the_percentiles(value: float, expected: float) -> None:
    assert percentile(EVEN, value) == pytest.approx(expected)


def test_a_value_shared_by_many_peers_stands_in_their_middle() -> None:
    # 30% of the band never uses the product: the 0th to 25th percentiles are all 0, and
    # an idle account stands at their middle, not at the 0th (which would call every
    # idle account the worst); the 30th percentile already lies between 0 and 0.5
    table = quantiles([0.0] * 30 + [0.5] * 70)
    assert table[:6] == (0.0,) * 6
    assert 0 < table[6] < 0.5
    assert percentile(table, 0.0) == 12.5
    assert percentile(table, 0.5) == 67.5  # the middle of the 35th to 100th
    assert percentile(table, 0.25) == pytest.approx(
        25 + 5 * (0.25 - table[5]) / (table[6] - table[5])
    )


def test_quantiles_of_a_sample() -> None:
    table = quantiles([float(v) for v in range(101)])  # 0..100
    assert table == tuple(float(q) for q in QUANTILES)
    assert quantiles([3.0]) == (3.0,) * len(QUANTILES)
    with pytest.raises(ValueError, match="no values"):
        quantiles([])


def test_learning_counts_each_account_once_and_skips_small_bands() -> None:
    small = [(5.0, v / 100) for v in range(30)]
    mid = [(20.0, 0.5) for _ in range(4)]
    broken = [(5.0, math.nan), (0.0, 0.2)]  # no number; no seats
    config, counts = learn([*small, *mid, *broken], (10, 50, 200), min_peers=20)
    assert counts == {"1-9 seats": 30, "10-49 seats": 4, "50-199 seats": 0, "200+ seats": 0}
    assert set(config.percentiles) == {"1-9 seats"}
    assert config.percentiles["1-9 seats"][0] == 0.0
    assert config.percentiles["1-9 seats"][-1] == pytest.approx(0.29)
    assert standing(config, 7, 0.29) == 100.0
    assert standing(config, 20, 0.5) is None  # a band too small to compare with
    lines = describe(config, counts)
    assert "10-49 seats" in lines[1]
    assert "too few" in lines[1]
    assert "median 0.145" in lines[0]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"seat_bands": [50, 10]}, "ascending"),
        ({"seat_bands": [1, 10]}, "above 1"),
        ({"percentiles": {"1-9 seats": [0.1, 0.2]}}, "21 values"),
        ({"percentiles": {"1-9 seats": list(reversed(EVEN))}}, "must not decrease"),
        (
            {"percentiles": {"tiny": EVEN}},
            "the bands are 1-9 seats, 10-49 seats, 50-199",
        ),
        ({"percentiles": {"1-9 seats": (math.nan,) * len(QUANTILES)}}, "finite"),
        ({"percentiles": {"1-9 seats": (*EVEN[:-1], math.inf)}}, "finite"),
        ({"percentiles": {"1-9 seats": (-5.0, *EVEN[1:])}}, "not negative"),
    ],
)
def test_a_table_that_cannot_be_right_is_refused(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PeersConfig.model_validate(settings)
    with pytest.raises(ConfigError, match="peers"):
        load_config({"peers": settings})


def _account(folder: StateFolder, seats: int, users: int, days: int = 42) -> AccountState:
    """An account of ``seats`` seats with ``users`` users active every day for ``days``."""
    state = AccountState(ACCOUNT)
    events = [subscription(at(-days), seats=seats)]
    events += [login(at(d), f"u{u}") for d in range(-days + 1, 14) for u in range(users)]
    for event in events:
        folder.apply(state, event, now=event.occurred_at)
    return state


def test_the_metric_places_an_account_among_its_size_band() -> None:
    config = SignalsConfig(peers=_table(**{"10-49 seats": tuple(2 * v for v in EVEN)}))
    folder = StateFolder(config)
    small = _account(folder, seats=8, users=2)  # a quarter of its seats every day
    assert evaluate("dau_share_of_seats", small, at(13), config) == pytest.approx(0.25)
    assert evaluate("dau_share_peer_percentile", small, at(13), config) == pytest.approx(25.0)
    # the same share on a 20-seat account is the 12.5th percentile of a band that uses more
    larger = _account(StateFolder(config), seats=20, users=5)
    assert evaluate("dau_share_peer_percentile", larger, at(13), config) == pytest.approx(12.5)
    # a band the table has no percentiles for: no data, not a made-up standing
    big = _account(StateFolder(config), seats=80, users=20)
    assert evaluate("dau_share_peer_percentile", big, at(13), config) is None


def test_a_customer_is_sampled_once_observed_28_days_and_never_after_cancelling() -> None:
    config = SignalsConfig()
    folder = StateFolder(config)
    state = _account(folder, seats=8, users=2, days=42)  # first seen on day -42
    assert peer_sample(state, at(13), config) == pytest.approx(0.25)
    assert peer_sample(state, at(-15), config) is None  # observed 27 days
    assert peer_sample(state, at(-14), config) == pytest.approx(0.25)  # 28: days -41..-14
    folder.apply(state, billing("subscription_cancelled", at(13, 2)), now=at(13, 2))
    assert peer_sample(state, at(13, 3), config) is None


PEER_RULE = """
extends: defaults
rules:
  - id: low_among_peers
    version: 1
    kind: churn_risk
    severity: medium
    description: Use in the bottom tenth of accounts of its size
    play: Adoption review
    when: {metric: dau_share_peer_percentile, op: "<=", threshold: 10}
"""


def test_reading_the_peer_percentile_without_a_table_is_refused() -> None:
    """Rules that read it would never fire, and nothing would say why."""
    rules = load_rules(PEER_RULE, "peers.yaml")
    with pytest.raises(ConfigError, match="no peer table is configured: learn one with"):
        SignalProcessor(SignalsConfig(), rules)
    SignalProcessor(SignalsConfig(peers=_table()), rules)  # with a table: fine
    health = SignalsConfig().health.model_dump(mode="json")
    scales = health["components"]["product_usage"]["metrics"]
    scales[1] = {"metric": "dau_share_peer_percentile", "red": 10, "green": 50}
    with pytest.raises(ConfigError, match=r"peers\.percentiles"):
        SignalProcessor(load_config({"health": health}))
    SignalProcessor(SignalsConfig())  # the defaults read no peer percentile
