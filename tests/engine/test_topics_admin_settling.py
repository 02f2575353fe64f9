"""A topic a concurrent worker has just created is described with no partitions for a
moment: ensure_topics asks again rather than refusing to start (seen in a bench run)."""

from __future__ import annotations

from typing import Any

import pytest

from engine import topics_admin
from engine.topics_admin import InternalTopic, ensure_topics


class _Response:
    def __init__(self, resources: list[dict[str, Any]]) -> None:
        self._resources = resources

    def to_object(self) -> dict[str, Any]:
        return {"resources": self._resources}


class _SettlingAdmin:
    """A broker on which the topic exists, but shows its partitions only from the
    third description on."""

    def __init__(self) -> None:
        self.described = 0

    async def list_topics(self) -> list[str]:
        return ["t"]

    async def describe_topics(self, names: list[str]) -> list[dict[str, Any]]:
        self.described += 1
        partitions = [{"replicas": [1]}] * 2 if self.described >= 3 else []
        return [{"topic": name, "partitions": partitions} for name in names]

    async def describe_configs(self, resources: list[Any]) -> list[_Response]:
        entries = [
            {"config_names": "cleanup.policy", "config_value": "delete"},
            {"config_names": "retention.ms", "config_value": str(7 * 86_400_000)},
        ]
        return [
            _Response(
                [
                    {
                        "resource_name": "t",
                        "error_code": 0,
                        "error_message": None,
                        "config_entries": entries,
                    }
                ]
            )
        ]


async def test_a_topic_still_settling_is_described_again_not_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(topics_admin, "DESCRIBE_PAUSE_S", 0.0)
    admin = _SettlingAdmin()
    (report,) = await ensure_topics(admin, [InternalTopic("t", 2)], 1)  # type: ignore[arg-type]
    assert (report.status, report.differences) == ("exists", [])
    assert admin.described == 3


async def test_a_real_difference_is_still_reported_after_the_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(topics_admin, "DESCRIBE_PAUSE_S", 0.0)
    (report,) = await ensure_topics(_SettlingAdmin(), [InternalTopic("t", 6)], 1)  # type: ignore[arg-type]
    assert report.status == "differs"
    assert report.differences == ["partitions: 2 on the broker, 6 in the catalogue"]
