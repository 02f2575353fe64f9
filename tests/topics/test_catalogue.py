"""Topic catalogue: versioned names, retention and compaction, keys, prefix rules."""

from __future__ import annotations

import pytest

from topics.catalogue import (
    INPUT_KINDS,
    OUTPUT_KINDS,
    TopicKind,
    catalogue,
    topic_name,
    topic_spec,
)
from topics.errors import PulseValidationError
from topics.models import Trigger, UsageEvent, UserAlias, UserLink

DAY_MS = 86_400_000


def test_default_catalogue_names() -> None:
    assert [spec.name for spec in catalogue()] == [
        "pulse.usage.v1",
        "pulse.tickets.v1",
        "pulse.billing.v1",
        "pulse.feedback.v1",
        "pulse.accounts.v1",
        "pulse.commands.v1",
        "pulse.triggers.churn-risk.v1",
        "pulse.triggers.expansion.v1",
        "pulse.triggers.advocacy.v1",
        "pulse.health.v1",
        "pulse.outcomes.v1",
        "pulse.dead-letter.v1",
    ]
    assert set(INPUT_KINDS) | set(OUTPUT_KINDS) == set(TopicKind)


@pytest.mark.parametrize(
    ("kind", "config"),
    [
        (TopicKind.USAGE, {"cleanup.policy": "delete", "retention.ms": str(14 * DAY_MS)}),
        (TopicKind.FEEDBACK, {"cleanup.policy": "delete", "retention.ms": str(14 * DAY_MS)}),
        (TopicKind.ACCOUNTS, {"cleanup.policy": "compact", "retention.ms": "-1"}),
        (TopicKind.EXPANSION, {"cleanup.policy": "delete", "retention.ms": str(30 * DAY_MS)}),
        (TopicKind.HEALTH, {"cleanup.policy": "compact", "retention.ms": "-1"}),
        (TopicKind.OUTCOMES, {"cleanup.policy": "delete", "retention.ms": "-1"}),
        (
            TopicKind.DEAD_LETTER,
            {
                "cleanup.policy": "delete",
                "retention.ms": str(30 * DAY_MS),
                "max.message.bytes": str(2 * 1024 * 1024),
            },
        ),
    ],
)
def test_kafka_configs(kind: TopicKind, config: dict[str, str]) -> None:
    assert topic_spec(kind).config == config


def test_every_topic_is_keyed_by_account_and_shares_the_partition_count() -> None:
    specs = catalogue("acme.pulse", partitions=12)

    assert {spec.partitions for spec in specs} == {12}
    assert all("account_id" in spec.key for spec in specs)
    assert all(spec.name.startswith("acme.pulse.") for spec in specs)


def test_payload_models() -> None:
    assert topic_spec(TopicKind.USAGE).value_models == (UsageEvent, UserLink, UserAlias)
    assert {topic_spec(k).value_models for k in OUTPUT_KINDS[:3]} == {(Trigger,)}


def test_specs_are_immutable() -> None:
    spec = topic_spec(TopicKind.USAGE)

    with pytest.raises(AttributeError):
        spec.partitions = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("prefix", "reason"),
    [
        ("", "must not be empty"),
        ("pulse prod", "may only contain ASCII letters"),
        ("pulse/prod", "may only contain ASCII letters"),
        ("pülse", "may only contain ASCII letters"),
        ("p" * 230, "Kafka allows at most 249"),
    ],
)
def test_prefix_must_give_legal_kafka_names(prefix: str, reason: str) -> None:
    with pytest.raises(PulseValidationError) as caught:
        catalogue(prefix)

    assert caught.value.field == "prefix"
    assert reason in caught.value.reason


def test_longest_legal_prefix_fills_249_characters() -> None:
    suffix = len(".triggers.churn-risk.v1")
    prefix = "p" * (249 - suffix)

    assert len(topic_name(TopicKind.CHURN_RISK, prefix)) == 249
    with pytest.raises(PulseValidationError, match="is 250 characters"):
        topic_name(TopicKind.CHURN_RISK, prefix + "p")


def test_partitions_must_be_positive() -> None:
    with pytest.raises(PulseValidationError, match="partitions: must be at least 1, got 0"):
        catalogue(partitions=0)
