from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, datetime

import orjson
import pytest

from engine.simulator import CORE_FEATURES, Simulation, SimulationConfig
from engine.simulator.writers import Pacer, Progress, replay_line, write_replay
from signals.config import UsageMapping
from tests.simulator.conftest import Quarter
from topics.catalogue import INPUT_KINDS, TopicKind
from topics.codec import decode_billing
from topics.models import UsageEvent, UserLink


def _replay(config: SimulationConfig) -> bytes:
    out = io.BytesIO()
    write_replay(Simulation(config).records(), out)
    return out.getvalue()


def test_same_seed_gives_byte_identical_output_and_another_seed_does_not() -> None:
    config = SimulationConfig(accounts=15, days=10, seed=3)
    first, again = _replay(config), _replay(SimulationConfig(accounts=15, days=10, seed=3))
    assert first == again
    assert len(first.splitlines()) > 500
    assert _replay(SimulationConfig(accounts=15, days=10, seed=4)) != first
    truth = Simulation(config).truth_document()
    assert truth == Simulation(SimulationConfig(accounts=15, days=10, seed=3)).truth_document()


def test_replay_lines_name_the_topic_and_keep_non_json_as_text(quarter: Quarter) -> None:
    malformed = [r for r in quarter.records if r.fault == "malformed"]
    as_text = 0
    for record in quarter.records[:2000] + malformed:
        line = orjson.loads(replay_line(record))
        assert line["topic"] == record.kind.value
        if isinstance(line["value"], str):
            as_text += 1
            assert line["value"].encode() == record.value
        else:
            assert line["value"] == orjson.loads(record.value)
    assert 0 < as_text < len(malformed)


def test_pacing_by_simulated_time_and_by_rate() -> None:
    now = [100.0]
    records = list(Simulation(SimulationConfig(accounts=2, days=2)).records())
    by_speed = Pacer(speed=3600, clock=lambda: now[0])
    assert by_speed.delay(records[0]) == 0
    hours = (records[-1].sent_at - records[0].sent_at).total_seconds() / 3600
    assert by_speed.delay(records[-1]) == pytest.approx(hours)
    by_rate = Pacer(rate=10, clock=lambda: now[0])
    delays = [by_rate.delay(r) for r in records[:3]]
    assert delays == pytest.approx([0, 0.1, 0.2])


def test_progress_reports_at_most_once_a_second() -> None:
    now = [0.0]
    out = io.StringIO()
    progress = Progress(out, clock=lambda: now[0])
    for record in list(Simulation(SimulationConfig(accounts=2, days=2)).records())[:30]:
        now[0] += 0.1
        progress.tick(record)
    assert len(out.getvalue().splitlines()) == 2
    assert "simulated 2026-07-0" in out.getvalue()


def test_well_formed_messages_decode_and_malformed_ones_do_not(quarter: Quarter) -> None:
    # Every producer's topic; commands come from CSMs, not from the simulated producers.
    assert {r.kind for r in quarter.records} == set(INPUT_KINDS) - {TopicKind.COMMANDS}
    for record, event in zip(quarter.records, quarter.events, strict=True):
        assert (event is None) == (record.fault == "malformed"), record
    malformed = sum(event is None for event in quarter.events)
    originals = sum(r.fault in (None, "late") for r in quarter.records)
    assert malformed / originals == pytest.approx(quarter.config.malformed_rate, rel=0.25)


def test_stripe_messages_decode_with_the_billing_decoder(quarter: Quarter) -> None:
    stripe = [
        r for r in quarter.records if b'"object":"event"' in r.value and r.fault != "malformed"
    ]
    assert len(stripe) > 50
    for record in stripe:
        event = decode_billing(record.value)
        assert record.key == event.account_id.encode()


def test_keys_are_accounts_or_the_user_of_a_user_only_call(quarter: Quarter) -> None:
    user_only = 0
    for record, event in zip(quarter.records, quarter.events, strict=True):
        if event is None:
            continue
        if isinstance(event, UsageEvent) and event.account_id is None:
            user_only += 1
            assert record.key == str(event.user_id).encode()
        else:
            assert record.key == str(event.account_id).encode()
    assert user_only > 1000


def test_user_only_calls_follow_their_group_link_in_event_time(quarter: Quarter) -> None:
    linked: dict[str, datetime] = {}
    for event in quarter.events:
        if isinstance(event, UserLink):
            linked.setdefault(event.user_id, event.occurred_at)
    for event in quarter.events:
        if isinstance(event, UsageEvent) and event.account_id is None:
            assert linked[str(event.user_id)] < event.occurred_at


def test_late_and_duplicate_rates_are_honoured(quarter: Quarter) -> None:
    seen: set[str] = set()
    newest = datetime.min.replace(tzinfo=UTC)
    firsts = late = duplicates = 0
    for event in quarter.events:
        if event is None:
            continue
        if event.event_id in seen:
            duplicates += 1
            continue
        seen.add(event.event_id)
        firsts += 1
        if event.occurred_at < newest:
            late += 1
        newest = max(newest, event.occurred_at)
    assert late / firsts == pytest.approx(quarter.config.late_rate, rel=0.15)
    assert duplicates / firsts == pytest.approx(quarter.config.duplicate_rate, rel=0.15)


def test_event_ids_are_unique_apart_from_duplicates(quarter: Quarter) -> None:
    ids = Counter(e.event_id for e in quarter.events if e is not None)
    assert max(ids.values()) == 2


def test_product_event_names_are_the_default_usage_mapping(quarter: Quarter) -> None:
    mapping = UsageMapping()
    names = {e.name for e in quarter.events if isinstance(e, UsageEvent)}
    understood = (
        mapping.login_events
        | mapping.seat_added_events
        | mapping.trial_started_events
        | mapping.trial_ended_events
        | mapping.premium_attempt_events
        | mapping.referral_events
        | mapping.community_events
        | mapping.training_events
        | mapping.business_review_events
        | {mapping.feature_event, mapping.api_call_event, mapping.data_volume_event}
    )
    assert names == understood - {"Session Started", "Logged In", "Upgrade Wall Hit"} - {
        "Community Answer Posted"
    }
    features = {
        e.properties["feature"]
        for e in quarter.events
        if isinstance(e, UsageEvent) and e.name == mapping.feature_event
    }
    assert features == set(CORE_FEATURES)
    UsageMapping(core_features=CORE_FEATURES)


def test_default_volume_per_account_is_in_the_intended_range(quarter: Quarter) -> None:
    per_account = len([r for r in quarter.records if r.fault is None]) / quarter.config.accounts
    assert 150 <= per_account <= 400


def test_weekdays_are_busier_than_weekends(quarter: Quarter) -> None:
    logins = [e for e in quarter.events if isinstance(e, UsageEvent) and e.name == "Signed In"]
    by_weekday = Counter(e.occurred_at.weekday() for e in logins)
    # UTC weekdays: Friday afternoon in California is already Saturday in UTC.
    assert min(by_weekday[d] for d in range(4)) > 3 * max(by_weekday[5], by_weekday[6])


@pytest.mark.parametrize(
    "bad",
    [
        {"accounts": 0},
        {"late_rate": 1.5},
        {"start": datetime(2026, 7, 1, 12, tzinfo=UTC)},
        {"persona_mix": {}},
    ],
)
def test_bad_configs_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"."):
        SimulationConfig(**bad)  # type: ignore[arg-type]
