"""Peer percentiles: a frozen table per size band, and where an account stands in it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from signals.config import SignalsConfig, load_config
from signals.errors import ConfigError
from signals.ingest import StateFolder
from signals.metrics import evaluate
from signals.metrics.peers import weekly_values
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
    # 30% of the band never uses the product: an idle account is at the 15th percentile
    # of its band, not at the 0th (which would call every idle account the worst)
    table = quantiles([0.0] * 30 + [0.5] * 70)
    assert percentile(table, 0.0) == pytest.approx(15.0, abs=2.5)
    assert percentile(table, 0.5) == pytest.approx(65.0, abs=2.5)


def test_quantiles_of_a_sample() -> None:
    table = quantiles([float(v) for v in range(101)])  # 0..100
    assert table == tuple(float(q) for q in QUANTILES)
    assert quantiles([3.0]) == (3.0,) * len(QUANTILES)
    with pytest.raises(ValueError, match="no values"):
        quantiles([])


def test_learning_counts_each_account_once_and_skips_small_bands() -> None:
    small = [(5.0, [v / 100, v / 100, 9.0]) for v in range(30)]  # median: v/100
    mid = [(20.0, [0.5]) for _ in range(4)]
    idle = [(5.0, [])]  # no weekly value (cancelled, or not observed long enough)
    config, counts = learn([*small, *mid, *idle], (10, 50, 200), min_peers=20)
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
        ({"percentiles": {"tiny": EVEN}}, "the bands are"),
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


def test_weekly_values_need_28_observed_days_and_a_customer() -> None:
    config = SignalsConfig()
    folder = StateFolder(config)
    state = _account(folder, seats=8, users=2, days=42)  # observed from day -42
    values = weekly_values(state, at(13), config)
    # as of days 13, 6, -1, -8 and -15: observed 55, 48, 41, 34 and 27 days; the 5th stops
    assert len(values) == 4
    assert values[0] == pytest.approx(0.25)
    folder.apply(state, billing("subscription_cancelled", at(13, 2)), now=at(13, 2))
    assert weekly_values(state, at(13, 3), config) == []
