"""Health scoring: piecewise scales, renormalisation, bands, trend and lapsing overrides."""

from __future__ import annotations

from datetime import timedelta

import pytest

from signals.config import HealthConfig, MetricScale, SignalsConfig, load_config
from signals.errors import ConfigError, SignalsError
from signals.health import HealthModel, health_band, health_metrics, record_score, scale_score
from signals.ingest import StateFolder
from signals.state import AccountState, micros
from tests.signals.factories import ACCOUNT, at, login, subscription
from topics.models import HealthOverride

NOW = at(13)

ALL_GREEN = {
    "dau_share_of_seats": 0.8,
    "feature_adoption_28d": 0.6,
    "business_reviews_attended": 1.0,
    "trainings_completed": 3.0,
    "ticket_trend": 0.5,
    "tickets_open_high_urgent": 0.0,
    "csat_avg_90d": 4.5,
    "executive_sponsor": 1.0,
    "nps_avg_score_90d": 9.5,
    "failed_payments_unresolved": 0.0,
    "days_past_due": 0.0,
}


@pytest.fixture
def model() -> HealthModel:
    return HealthModel(SignalsConfig())


@pytest.mark.parametrize(
    ("red", "green", "value", "expected"),
    [
        (0.2, 0.7, 0.7, 1.0),
        (0.2, 0.7, 0.45, 0.5),
        (0.2, 0.7, 0.1, 0.0),
        (0.2, 0.7, 2.0, 1.0),
        (3, 0, 1, 2 / 3),
        (3, 0, 5, 0.0),
        (2.0, 1.0, 0.5, 1.0),
    ],
)
def test_scale_score_is_piecewise_linear(
    red: float, green: float, value: float, expected: float
) -> None:
    scale = MetricScale(metric="m", red=red, green=green)
    assert scale_score(scale, value) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("score", "band"),
    [
        (100, "green"),
        (80, "green"),
        (79.99, "yellow"),
        (50, "yellow"),
        (49.9, "red"),
        (0, "red"),
        (None, "unknown"),
    ],
)
def test_bands(score: float | None, band: str) -> None:
    assert health_band(score, HealthConfig()) == band


def test_all_green_scores_100(model: HealthModel) -> None:
    snapshot = model.snapshot(AccountState(ACCOUNT), NOW, ALL_GREEN.get)
    assert (snapshot.score, snapshot.band, snapshot.missing_components) == (100, "green", [])
    assert [c.effective_weight for c in snapshot.components] == [40, 25, 15, 15, 5]


# Product usage at a quarter of each scale: 0.25 x 40 = 10 points, the rest green: 70.
QUARTER_USAGE = {
    "usage_change_z": -2.375,
    "dau_share_of_seats": 0.0725,
    "feature_adoption_28d": 0.2,
}


def test_component_points_and_metrics_in_the_breakdown(model: HealthModel) -> None:
    values = ALL_GREEN | QUARTER_USAGE
    snapshot = model.snapshot(AccountState(ACCOUNT), NOW, values.get)
    usage = snapshot.components[0]
    assert usage.name == "product_usage"
    assert (usage.score, usage.points) == (pytest.approx(0.25), pytest.approx(10))
    assert usage.metrics == pytest.approx(QUARTER_USAGE)
    assert snapshot.score == 70
    assert snapshot.band == "yellow"


def test_missing_components_are_left_out_and_weights_renormalised(model: HealthModel) -> None:
    values = {"dau_share_of_seats": 0.115, "failed_payments_unresolved": 0.0}
    snapshot = model.snapshot(AccountState(ACCOUNT), NOW, values.get)
    assert snapshot.missing_components == ["engagement", "support", "relationship"]
    weights = {c.name: c.effective_weight for c in snapshot.components}
    assert weights == {
        "product_usage": pytest.approx(40 / 45 * 100),
        "financial": pytest.approx(5 / 45 * 100),
    }
    # product usage scores 0.5 (its other metrics missing), financial 1.0
    assert snapshot.score == pytest.approx(round(0.5 * 40 / 45 * 100 + 5 / 45 * 100, 2))


def test_no_data_is_unknown_not_zero(model: HealthModel) -> None:
    snapshot = model.snapshot(AccountState(ACCOUNT), NOW)
    assert (snapshot.score, snapshot.band, snapshot.components) == (None, "unknown", [])
    assert len(snapshot.missing_components) == 5


def test_snapshot_from_real_state(model: HealthModel) -> None:
    state = AccountState(ACCOUNT)
    folder = StateFolder(model.config)
    folder.apply(state, subscription(at(0), seats=2), now=at(0))
    for day in range(14):
        folder.apply(state, login(at(day), user="a"), now=at(day))
    snapshot = model.snapshot(state, NOW)
    assert snapshot.missing_components == ["engagement", "support", "relationship"]
    assert snapshot.components[0].metrics["dau_share_of_seats"] == pytest.approx(0.25)


def test_component_override_shows_and_lapses(model: HealthModel) -> None:
    state = AccountState(ACCOUNT)
    override = HealthOverride(
        component="support",
        score=0.1,
        reason="escalation in flight",
        set_by="cara",
        expires_at=at(20),
    )
    model.set_override(state, override)
    during = model.snapshot(state, NOW, ALL_GREEN.get)
    support = next(c for c in during.components if c.name == "support")
    assert (support.overridden, support.score) == (True, 0.1)
    assert during.overrides == [override]
    assert during.score == pytest.approx(100 - 15 * 0.9)
    after = model.snapshot(state, at(20), ALL_GREEN.get)
    assert (after.score, after.overrides) == (100, [])


def test_component_override_fills_a_missing_component(model: HealthModel) -> None:
    state = AccountState(ACCOUNT)
    model.set_override(
        state,
        HealthOverride(
            component="relationship",
            score=1.0,
            reason="sponsor call went well",
            set_by=None,
            expires_at=at(30),
        ),
    )
    snapshot = model.snapshot(state, NOW, {"dau_share_of_seats": 0.7}.get)
    assert "relationship" not in snapshot.missing_components


def test_whole_score_override_and_replacement(model: HealthModel) -> None:
    state = AccountState(ACCOUNT)
    for score in (30.0, 40.0):
        model.set_override(
            state,
            HealthOverride(
                component=None, score=score, reason="exec churn", set_by="cara", expires_at=at(30)
            ),
        )
    snapshot = model.snapshot(state, NOW, ALL_GREEN.get)
    assert (snapshot.score, snapshot.band, len(snapshot.overrides)) == (40.0, "red", 1)
    assert model.snapshot(state, at(31), ALL_GREEN.get).score == 100


def test_override_of_an_unknown_component_is_refused(model: HealthModel) -> None:
    with pytest.raises(SignalsError, match="unknown health component"):
        model.set_override(
            AccountState(ACCOUNT),
            HealthOverride(component="vibes", score=0.5, reason="x", set_by=None, expires_at=at(1)),
        )


def test_trend_and_drop_come_from_recorded_daily_scores(model: HealthModel) -> None:
    state = AccountState(ACCOUNT)
    for day, score in ((-30, 60.0), (6, 85.0), (9, 90.0)):
        state.health_history[at(day).toordinal()] = score
    state.first_us = micros(at(-40))  # observed long enough for a judged score
    values = ALL_GREEN | QUARTER_USAGE  # 70 points
    snapshot = model.snapshot(state, NOW, values.get)
    assert not snapshot.provisional
    assert (snapshot.trend_7d, snapshot.trend_30d) == (-15.0, 10.0)
    score = model.score(state, NOW, values.get)
    metrics = health_metrics(state, score)
    assert metrics["health_drop_7d"] == 20.0
    assert metrics["health_green"] == 0.0
    assert (metrics["health_trend_7d"], metrics["health_trend_30d"]) == (-15.0, 10.0)
    record_score(state, score)
    assert state.health_history[NOW.toordinal()] == 70


def test_unknown_metric_in_the_model_names_the_setting() -> None:
    config = load_config(
        {
            "health": {
                "components": {
                    "support": {
                        "weight": 10,
                        "metrics": [
                            {"metric": "csat_avg_90d", "red": 2, "green": 4},
                            {"metric": "happiness", "red": 0, "green": 1},
                        ],
                    }
                }
            }
        }
    )
    with pytest.raises(ConfigError) as info:
        HealthModel(config)
    assert info.value.setting == "health.components.support.metrics.1.metric"


def test_expired_overrides_are_dropped_from_state_and_journalled(model: HealthModel) -> None:
    from signals.commands import lapse

    state = AccountState(ACCOUNT)
    model.set_override(
        state, HealthOverride(component=None, score=10, reason="r", set_by=None, expires_at=at(1))
    )
    assert lapse(state, micros(at(1)) - 1) == []
    assert len(state.overrides) == 1
    notes = lapse(state, micros(at(1) + timedelta(seconds=1)))
    assert [n.kind for n in notes] == ["override_lapsed"]
    assert state.overrides == []
    assert state.journal[-1][1:3] == ["override_lapsed", "pulse"]


def _observed_since(day: float) -> AccountState:
    state = AccountState(ACCOUNT)
    state.first_us = micros(at(day))
    return state


def test_a_judged_score_has_three_components_and_14_days_of_history(model: HealthModel) -> None:
    three = {"executive_sponsor": 1.0, "failed_payments_unresolved": 0.0, "csat_avg_90d": 4.5}
    judged = model.score(_observed_since(-1), NOW, three.get)  # day -1 to day 13: 14 days
    assert (judged.score, judged.missing, judged.provisional) == (
        100,
        ("product_usage", "engagement"),
        False,
    )
    assert health_metrics(_observed_since(-1), judged)["health_green"] == 1.0
    assert model.score(_observed_since(0), NOW, three.get).provisional  # 13 days


@pytest.mark.parametrize(
    ("values", "observed_from", "why"),
    [
        ({"executive_sponsor": 1.0, "failed_payments_unresolved": 0.0}, -30, "two components"),
        (ALL_GREEN, 0.5, "13 days of history"),
        (ALL_GREEN, None, "no event seen"),
    ],
)
def test_a_score_on_too_little_data_is_provisional_and_no_data_to_rules(
    model: HealthModel, values: dict[str, float], observed_from: float | None, why: str
) -> None:
    state = AccountState(ACCOUNT) if observed_from is None else _observed_since(observed_from)
    score = model.score(state, NOW, values.get)
    assert score.score == 100, why  # the score is shown...
    assert score.provisional, why
    assert model.snapshot(state, NOW, values.get).provisional
    metrics = health_metrics(state, score)  # ...but rules read no data
    assert {name: value for name, value in metrics.items() if value is not None} == {}, why
    record_score(state, score)
    assert state.health_history == {}, "a provisional score is not history"


def test_a_whole_score_override_is_never_provisional(model: HealthModel) -> None:
    state = AccountState(ACCOUNT)
    model.set_override(
        state,
        HealthOverride(
            component=None, score=30, reason="exec left", set_by="cara", expires_at=at(30)
        ),
    )
    score = model.score(state, NOW, {}.get)
    assert (score.score, score.band, score.provisional) == (30, "red", False)
