"""Peers: where an account's use stands among accounts of its size, from a frozen table.

A share of seats active means different things on a 5-seat team and a 400-seat
rollout. Peer percentiles compare an account with accounts of its size band instead
of with one fixed share. The table is learned from history (``pulse peers``) and
frozen in the signals configuration, not learned live from the stream: peers span
partitions, so a live table would differ between workers and move under a replay,
and the same events would give different triggers. Frozen, every worker and every
replay read the same table, and a team re-learns it when its book changes.

The table holds, per size band, the values at the 0th, 5th, ... 100th percentile of
the metric, one value per customer: its share over the 28 days to the end of the
history. (Not a median of older weeks: seats are known only as they are now, and an
older week's users over today's seats would mix two sizes of team.) A value is placed
by linear interpolation between the percentiles.
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, model_validator

from signals.errors import ConfigError

PEER_PERCENTILE: Final = "dau_share_peer_percentile"
"""The metric that reads the table."""
PEER_METRIC: Final = "dau_share_of_seats"
"""The metric peers are compared on: average daily active users over 28 days / seats."""
QUANTILE_STEP: Final = 5
"""The table keeps every 5th percentile: 21 values per band."""
QUANTILES: Final = tuple(range(0, 101, QUANTILE_STEP))
MIN_PEERS: Final = 20
"""Fewer accounts than this in a band make no percentiles worth trusting."""
DEFAULT_BANDS: Final = (10, 50, 200)
"""Seat counts where a new band starts: 1-9, 10-49, 50-199, 200 and more."""


class PeersConfig(BaseModel):
    """A frozen peer table: size bands by seats purchased, percentiles per band."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seat_bands: tuple[int, ...] = Field(default=DEFAULT_BANDS)
    """Ascending seat counts at which a band starts (the first band starts at 1)."""
    percentiles: dict[str, tuple[float, ...]] = Field(default_factory=dict)
    """Per band name (``band_name``), the metric's values at QUANTILES."""
    learned_from: str | None = None
    """What the table was learned from (file, accounts, period), for the people who read it."""

    @model_validator(mode="after")
    def _valid(self) -> PeersConfig:
        bands = self.seat_bands
        if any(b <= 1 for b in bands) or list(bands) != sorted(set(bands)):
            raise ValueError("seat_bands must be ascending seat counts above 1")
        names = band_names(bands)
        for name, values in self.percentiles.items():
            if name not in names:
                msg = f"percentiles name band {name!r}; the bands are {', '.join(names)}"
                raise ValueError(msg)
            if len(values) != len(QUANTILES):
                msg = f"band {name!r} needs {len(QUANTILES)} values (every 5th percentile)"
                raise ValueError(msg)
            if not all(math.isfinite(v) and v >= 0 for v in values):
                msg = f"band {name!r}: percentile values must be shares, finite and not negative"
                raise ValueError(msg)
            if list(values) != sorted(values):
                msg = f"band {name!r}: percentile values must not decrease"
                raise ValueError(msg)
        return self


def band_names(bands: Sequence[int]) -> list[str]:
    """The names of the bands ``bands`` make: "1-9 seats", ..., "200+ seats"."""
    starts = [1, *bands]
    names = [f"{lo}-{hi - 1} seats" for lo, hi in itertools.pairwise(starts)]
    return [*names, f"{starts[-1]}+ seats"]


def band_of(seats: float, bands: Sequence[int]) -> str:
    """The band of an account with ``seats`` seats purchased (at least 1)."""
    return band_names(bands)[bisect_right(bands, seats)]


def percentile(values: Sequence[float], value: float) -> float:
    """Where ``value`` stands among a band's percentile values, 0 to 100.

    Linear between neighbouring percentiles; below the lowest is 0 and above the
    highest 100. A value equal to a run of equal percentiles stands at the run's middle:
    where 30% of a band have no use at all, an idle account is at 12.5 (the middle of
    the 0th to 25th percentiles, all 0), not at 0, which would call it the worst of all.
    The table's 5-point steps make that middle exact to within one step.
    """
    lo, hi = bisect_left(values, value), bisect_right(values, value)
    if lo < hi:  # equal to values[lo:hi]
        return (QUANTILES[lo] + QUANTILES[hi - 1]) / 2
    if lo == 0:
        return 0.0
    if lo == len(values):
        return 100.0
    below, above = values[lo - 1], values[lo]
    return QUANTILES[lo - 1] + QUANTILE_STEP * (value - below) / (above - below)


def quantiles(sample: Sequence[float]) -> tuple[float, ...]:
    """The values of a sample at QUANTILES, linear between order statistics."""
    if not sample:
        raise ValueError("no values to take percentiles of")
    ordered = sorted(sample)
    last = len(ordered) - 1
    out = []
    for q in QUANTILES:
        position = last * q / 100
        index = int(position)
        fraction = position - index
        upper = ordered[min(index + 1, last)]
        out.append(ordered[index] + (upper - ordered[index]) * fraction)
    return tuple(out)


def require_table(config: PeersConfig, reading: Iterable[str]) -> None:
    """Refuse rules or health that read the peer percentile when no table is configured:
    they would never fire, or score without that input, and nothing would say so."""
    if PEER_PERCENTILE in set(reading) and not config.percentiles:
        msg = (
            f"{PEER_PERCENTILE} is read, but no peer table is configured: learn one with "
            "`pulse peers EVENTS --out F` and pass F as the signals configuration"
        )
        raise ConfigError("peers.percentiles", msg)


def learn(
    accounts: Iterable[tuple[float, float]],
    bands: Sequence[int] = DEFAULT_BANDS,
    min_peers: int = MIN_PEERS,
    learned_from: str | None = None,
) -> tuple[PeersConfig, dict[str, int]]:
    """A peer table from ``(seats, value)`` per account, and the accounts per band.

    A band with fewer than ``min_peers`` accounts gets no percentiles: its accounts have
    no peer percentile (no data), rather than one resting on a handful.
    """
    by_band: dict[str, list[float]] = {name: [] for name in band_names(bands)}
    for seats, value in accounts:
        if seats >= 1 and math.isfinite(value):
            by_band[band_of(seats, bands)].append(value)
    counts = {name: len(sample) for name, sample in by_band.items()}
    table = {
        name: quantiles(sample) for name, sample in by_band.items() if len(sample) >= min_peers
    }
    config = PeersConfig(seat_bands=tuple(bands), percentiles=table, learned_from=learned_from)
    return config, counts


def standing(config: PeersConfig, seats: float, value: float) -> float | None:
    """The percentile of ``value`` among the peers of an account of ``seats`` seats, or
    None when the table has no percentiles for its band."""
    values = config.percentiles.get(band_of(seats, config.seat_bands))
    return None if values is None else percentile(values, value)


def describe(config: PeersConfig, counts: Mapping[str, int] | None = None) -> list[str]:
    """Lines for a person: per band, accounts, 10th / 50th / 90th percentile."""
    lines = []
    for name in band_names(config.seat_bands):
        values = config.percentiles.get(name)
        seen = "" if counts is None else f"{counts.get(name, 0):>6,} accounts  "
        if values is None:
            lines.append(f"  {name:<14} {seen}too few accounts to compare with")
            continue
        p10, p50, p90 = (values[q // QUANTILE_STEP] for q in (10, 50, 90))
        lines.append(f"  {name:<14} {seen}p10 {p10:.3f}  median {p50:.3f}  p90 {p90:.3f}")
    return lines
