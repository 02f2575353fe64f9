from __future__ import annotations

from datetime import timedelta

import pytest

from signals.config import SignalsConfig, load_config
from signals.errors import ConfigError


def test_defaults_follow_the_domain_spec() -> None:
    config = SignalsConfig()
    weights = {name: c.weight for name, c in config.health.components.items()}
    assert weights == {
        "product_usage": 40,
        "engagement": 25,
        "support": 15,
        "relationship": 15,
        "financial": 5,
    }
    assert (config.health.green_from, config.health.yellow_from) == (80, 50)
    assert config.retention == timedelta(days=120)
    assert config.reorder_window == timedelta(0)
    assert {"Signed In", "Session Started", "Logged In"} == config.usage.login_events
    assert config.usage.seat_added_events == {"Account Added User"}
    assert config.usage.seat_removed_events == {"Account Removed User"}


def test_config_is_frozen() -> None:
    config = SignalsConfig()
    with pytest.raises(ValueError, match="frozen"):
        config.dedup_capacity = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("data", "setting"),
    [
        ({"health": {"components": {"support": {"weight": -1, "metrics": []}}}}, "health"),
        ({"dedup_capacity": 0}, "dedup_capacity"),
        ({"lateness_bound": "P1D", "reorder_window": "P2D"}, "config"),
        ({"usage": {"no_such": 1}}, "usage.no_such"),
        ({"health": {"green_from": 40}}, "health"),
    ],
)
def test_a_bad_setting_is_named(data: dict[str, object], setting: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(data)
    assert info.value.setting.startswith(setting)
    assert str(info.value).startswith(info.value.setting)


def test_load_config_reads_durations_and_sets() -> None:
    config = load_config(
        {
            "lateness_bound": "PT6H",
            "usage": {"login_events": ["Opened App"], "core_features": ["A"]},
        }
    )
    assert config.lateness_bound == timedelta(hours=6)
    assert config.usage.login_events == {"Opened App"}
