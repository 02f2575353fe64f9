"""The health score (0-100): weighted components, piecewise-linear metric scores, overrides.

A component with no data is left out and the other weights renormalised, and the
snapshot names it: missing data is never silently a zero. CSM overrides live in
state with an expiry and lapse by themselves as event time passes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Final, Literal, NamedTuple

from signals.config import ComponentName, HealthConfig, MetricScale, SignalsConfig
from signals.errors import ConfigError, SignalsError
from signals.metrics import CONTINUOUS, METRIC_READS, METRICS, evaluate
from signals.state import AccountState, from_micros
from topics.models import ComponentScore, HealthOverride, HealthSnapshot

Band = Literal["green", "yellow", "red", "unknown"]
MetricLookup = Callable[[str], float | None]


def scale_score(scale: MetricScale, value: float) -> float:
    """0 at the red threshold, 1 at the green one, linear between, clamped outside."""
    fraction = (value - scale.red) / (scale.green - scale.red)
    return min(1.0, max(0.0, fraction))


def health_band(score: float | None, config: HealthConfig) -> Band:
    if score is None:
        return "unknown"
    if score >= config.green_from:
        return "green"
    return "yellow" if score >= config.yellow_from else "red"


class HealthModel:
    """Scores an account's health as of an event time from its state and metrics."""

    def __init__(self, config: SignalsConfig) -> None:
        for name, component in config.health.components.items():
            for i, scale in enumerate(component.metrics):
                if scale.metric not in METRICS:
                    setting = f"health.components.{name}.metrics.{i}.metric"
                    raise ConfigError(setting, f"unknown metric {scale.metric!r}")
        self.config = config
        self._components = tuple(
            (name, component.weight, component.metrics, _reads(component.metrics))
            for name, component in config.health.components.items()
        )
        """(name, weight, scales, facets its metrics read) per component, for ``score``."""
        self._continuous = tuple(sorted(self.metric_names() & CONTINUOUS.keys()))

    def set_override(self, state: AccountState, override: HealthOverride) -> None:
        """Set (or replace) the override of one component, or of the whole score."""
        if (
            override.component is not None
            and override.component not in self.config.health.components
        ):
            msg = f"cannot override unknown health component {override.component!r}"
            raise SignalsError(msg)
        clear_override(state, override.component)
        state.overrides.append(override.model_dump(mode="json"))

    def steady(self, state: AccountState) -> bool:
        """Whether the score stands still within a day while no input changes.

        Overrides lapse at an instant, and a continuous metric (days past due while a
        payment is overdue) moves with the clock; without either, the score is a function
        of day-granular metric values and can be memoised for the day.
        """
        if state.overrides:
            return False
        return not any(CONTINUOUS[name](state) for name in self._continuous)

    def metric_names(self) -> frozenset[str]:
        return frozenset(
            s.metric for c in self.config.health.components.values() for s in c.metrics
        )

    def score(
        self,
        state: AccountState,
        as_of: datetime,
        lookup: MetricLookup | None = None,
        since: tuple[HealthScore, int] | None = None,
    ) -> HealthScore:
        """The score and its parts as plain values: cheap enough to run after every event.

        ``since`` is an earlier score of the same day and the facets touched after it,
        for a ``steady`` state: components reading none of those facets keep their part.
        """
        if lookup is None:

            def lookup(name: str) -> float | None:
                return evaluate(name, state, as_of, self.config)

        overrides = active_overrides(state, as_of) if state.overrides else []
        by_component = {o.component: o for o in overrides}
        parts: list[HealthPart] = []
        missing: list[str] = []
        earlier: dict[str, HealthPart | None] = {}
        dirty = 0
        if since is not None and not since[0].overrides:
            earlier = {p.name: p for p in since[0].parts} | dict.fromkeys(since[0].missing)
            dirty = since[1]
        for name, weight, scales, reads in self._components:
            if name in earlier and not reads & dirty:
                part = earlier[name]
            else:
                part = _component(name, weight, scales, lookup, by_component.get(name))
            if part is None:
                missing.append(name)
            else:
                parts.append(part)
        total = sum(p.weight for p in parts)
        score = round(sum(p.score * p.weight for p in parts) * 100 / total, 2) if total else None
        whole = by_component.get(None)
        provisional = whole is None and self._provisional(state, as_of, len(parts))
        if whole is not None:
            score = whole.score
        band = health_band(score, self.config.health)
        return HealthScore(
            as_of, score, band, tuple(parts), tuple(missing), tuple(overrides), provisional
        )

    def _provisional(self, state: AccountState, as_of: datetime, scored: int) -> bool:
        """Too few components scored, or too short a history, to act on the score."""
        config = self.config.health
        if scored < min(config.min_components, len(self._components)):
            return True
        if state.first_us < 0:
            return True
        first_day = from_micros(state.first_us).toordinal()
        return as_of.toordinal() - first_day < config.min_history_days

    def snapshot(
        self, state: AccountState, as_of: datetime, lookup: MetricLookup | None = None
    ) -> HealthSnapshot:
        """The score, band, breakdown, trend and active overrides as of ``as_of``."""
        return self.to_snapshot(state, self.score(state, as_of, lookup))

    @staticmethod
    def to_snapshot(state: AccountState, health: HealthScore) -> HealthSnapshot:
        total = sum(p.weight for p in health.parts)
        components = []
        for part in health.parts:
            effective = 100.0 * part.weight / total if total else 0.0
            components.append(
                ComponentScore(
                    name=part.name,
                    weight=part.weight,
                    effective_weight=effective,
                    score=part.score,
                    points=part.score * effective,
                    metrics=part.metrics,
                    overridden=part.overridden,
                )
            )
        return HealthSnapshot(
            account_id=state.account_id,
            as_of=health.as_of,
            score=health.score,
            band=health.band,
            components=components,
            missing_components=list(health.missing),
            trend_7d=_trend(state, health, 7),
            trend_30d=_trend(state, health, 30),
            overrides=list(health.overrides),
            provisional=health.provisional,
        )


def _reads(scales: Iterable[MetricScale]) -> int:
    reads = 0
    for scale in scales:
        reads |= METRIC_READS[scale.metric]
    return reads


def _component(
    name: ComponentName,
    weight: float,
    scales: tuple[MetricScale, ...],
    lookup: MetricLookup,
    override: HealthOverride | None,
) -> HealthPart | None:
    """One component's part, or None when none of its metrics has data."""
    values: dict[str, float | None] = {}
    for scale in scales:
        values[scale.metric] = lookup(scale.metric)
    if override is not None:
        return HealthPart(name, weight, override.score, values, True)
    points: float = 0  # summed as ``sum`` would: left to right, from 0
    count = 0
    for scale in scales:
        value = values[scale.metric]
        if value is not None:
            points += scale_score(scale, value)
            count += 1
    return HealthPart(name, weight, points / count, values, False) if count else None


class HealthPart(NamedTuple):
    """One component's score (0..1) and the metric values behind it."""

    name: ComponentName
    weight: float
    score: float
    metrics: dict[str, float | None]
    overridden: bool


class HealthScore(NamedTuple):
    """A health score before it becomes a message; ``to_snapshot`` adds breakdown and trend.

    Named tuples, as ``HealthPart``: one is built per scored event, and a frozen
    dataclass costs several times more to construct.
    """

    as_of: datetime
    score: float | None
    band: Band
    parts: tuple[HealthPart, ...]
    missing: tuple[str, ...]
    overrides: tuple[HealthOverride, ...]
    provisional: bool = False
    """Rests on too little data: health metrics read as "no data" by rules."""


def _trend(state: AccountState, health: HealthScore, days: int) -> float | None:
    """Points gained since the latest score recorded on or before ``days`` days ago."""
    if health.score is None:
        return None
    target = health.as_of.toordinal() - days
    past = max((day for day in state.health_history if day <= target), default=None)
    return None if past is None else round(health.score - state.health_history[past], 2)


def record_score(state: AccountState, health: HealthScore) -> None:
    """Keep the day's latest judged score for trends and drops (pruned with the state).

    A provisional score is not kept: a drop from a score that rested on billing data
    alone is not a drop."""
    if health.score is not None and not health.provisional:
        state.health_history[health.as_of.toordinal()] = health.score


def health_drop_7d(state: AccountState, health: HealthScore) -> float | None:
    """Points lost from the best score of the last 7 days to now (0 when none was higher)."""
    if health.score is None or health.provisional:
        return None
    today = health.as_of.toordinal()
    history = state.health_history
    recent = [history[d] for d in range(today - 7, today + 1) if d in history]
    return max(0.0, max(recent, default=health.score) - health.score)


HealthValue = Callable[[AccountState, HealthScore], float | None]


def _judged(value: HealthValue) -> HealthValue:
    """A provisional score is no data to a rule: it never fires on one."""

    def read(state: AccountState, health: HealthScore) -> float | None:
        return None if health.provisional else value(state, health)

    return read


HEALTH_VALUES: Final[Mapping[str, HealthValue]] = MappingProxyType(
    {
        "health_score": _judged(lambda state, health: health.score),
        "health_drop_7d": health_drop_7d,
        "health_green": _judged(
            lambda state, health: None if health.score is None else float(health.band == "green")
        ),
        "health_red": _judged(
            lambda state, health: None if health.score is None else float(health.band == "red")
        ),
        "health_trend_7d": _judged(lambda state, health: _trend(state, health, 7)),
        "health_trend_30d": _judged(lambda state, health: _trend(state, health, 30)),
    }
)
"""Metrics rules can reference that come from the health score, computed when read.
Each is None (no data) while the score is provisional."""


def health_metrics(state: AccountState, health: HealthScore) -> Mapping[str, float | None]:
    """Every health-derived metric at once (revisions and tests; rules read them lazily)."""
    return {name: value(state, health) for name, value in HEALTH_VALUES.items()}


# -- CSM overrides ----------------------------------------------------------------


def clear_override(state: AccountState, component: str | None) -> None:
    state.overrides = [o for o in state.overrides if o["component"] != component]


def active_overrides(state: AccountState, as_of: datetime) -> list[HealthOverride]:
    """Overrides not yet expired at ``as_of``; expired ones lapse without anyone acting."""
    overrides = [HealthOverride.model_validate(o) for o in state.overrides]
    return sorted(
        (o for o in overrides if o.expires_at > as_of),
        key=lambda o: o.component or "",
    )
