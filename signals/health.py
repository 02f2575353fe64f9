"""The health score (0-100): weighted components, piecewise-linear metric scores, overrides.

A component with no data is left out and the other weights renormalised, and the
snapshot names it: missing data is never silently a zero. CSM overrides live in
state with an expiry and lapse by themselves as event time passes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from signals.config import ComponentName, HealthConfig, MetricScale, SignalsConfig
from signals.errors import ConfigError, SignalsError
from signals.metrics import METRICS, evaluate
from signals.state import AccountState
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

    def metric_names(self) -> frozenset[str]:
        return frozenset(
            s.metric for c in self.config.health.components.values() for s in c.metrics
        )

    def score(
        self, state: AccountState, as_of: datetime, lookup: MetricLookup | None = None
    ) -> HealthScore:
        """The score and its parts as plain values: cheap enough to run after every event."""
        if lookup is None:

            def lookup(name: str) -> float | None:
                return evaluate(name, state, as_of, self.config)

        overrides = active_overrides(state, as_of) if state.overrides else []
        by_component = {o.component: o for o in overrides}
        parts: list[HealthPart] = []
        missing: list[str] = []
        for name, component in self.config.health.components.items():
            values = {s.metric: lookup(s.metric) for s in component.metrics}
            override = by_component.get(name)
            if override is not None:
                parts.append(HealthPart(name, component.weight, override.score, values, True))
                continue
            scores = [
                scale_score(s, v) for s in component.metrics if (v := values[s.metric]) is not None
            ]
            if scores:
                mean = sum(scores) / len(scores)
                parts.append(HealthPart(name, component.weight, mean, values, False))
            else:
                missing.append(name)
        total = sum(p.weight for p in parts)
        score = round(sum(p.score * p.weight for p in parts) * 100 / total, 2) if total else None
        whole = by_component.get(None)
        if whole is not None:
            score = whole.score
        band = health_band(score, self.config.health)
        return HealthScore(as_of, score, band, tuple(parts), tuple(missing), tuple(overrides))

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
        )


@dataclass(frozen=True, slots=True)
class HealthPart:
    """One component's score (0..1) and the metric values behind it."""

    name: ComponentName
    weight: float
    score: float
    metrics: dict[str, float | None]
    overridden: bool


@dataclass(frozen=True, slots=True)
class HealthScore:
    """A health score before it becomes a message; ``to_snapshot`` adds breakdown and trend."""

    as_of: datetime
    score: float | None
    band: Band
    parts: tuple[HealthPart, ...]
    missing: tuple[str, ...]
    overrides: tuple[HealthOverride, ...]


def _trend(state: AccountState, health: HealthScore, days: int) -> float | None:
    """Points gained since the latest score recorded on or before ``days`` days ago."""
    if health.score is None:
        return None
    target = health.as_of.toordinal() - days
    past = [day for day in state.health_history if day <= target]
    return None if not past else round(health.score - state.health_history[max(past)], 2)


def record_score(state: AccountState, health: HealthScore) -> None:
    """Keep the day's latest score for trends and drops (pruned with the state)."""
    if health.score is not None:
        state.health_history[health.as_of.toordinal()] = health.score


def health_drop_7d(state: AccountState, health: HealthScore) -> float | None:
    """Points lost from the best score of the last 7 days to now (0 when none was higher)."""
    if health.score is None:
        return None
    today = health.as_of.toordinal()
    recent = [s for d, s in state.health_history.items() if today - 7 <= d <= today]
    return max(0.0, max(recent, default=health.score) - health.score)


def health_metrics(state: AccountState, health: HealthScore) -> Mapping[str, float | None]:
    """Metrics rules can reference that come from the health score."""
    return {
        "health_score": health.score,
        "health_drop_7d": health_drop_7d(state, health),
        "health_green": None if health.score is None else float(health.band == "green"),
        "health_trend_7d": _trend(state, health, 7),
        "health_trend_30d": _trend(state, health, 30),
    }


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


def prune_overrides(state: AccountState, as_of: datetime) -> None:
    state.overrides = [
        o.model_dump(mode="json")
        for o in map(HealthOverride.model_validate, state.overrides)
        if o.expires_at > as_of
    ]
