"""The live engine against the real broker and Redis: triggers, dead letters, view, HTTP."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from engine.routing import partition_for
from engine.settings import Settings
from engine.signals_files import read_config, read_rules
from engine.simulator import CORE_FEATURES
from engine.simulator.generator import Simulation, SimulationConfig
from engine.topics_admin import create_catalogue
from signals.replay import ReplayResult, replay
from tests.conftest import RedisServer, WorkerProcess
from tests.engine.test_topics_create import configs_of
from topics.catalogue import TopicKind, topic_name
from topics.codec import decode_input, encode
from topics.errors import PulseValidationError
from topics.models import AccountProfile

PARTITIONS = 3
TOKEN = "test-token-0123456789"
BAD_SCORE = orjson.dumps(
    {
        "type": "nps",
        "event_id": "n1",
        "occurred_at": "2026-07-03T00:00:00Z",
        "account_id": "acct-x",
        "respondent_id": "r",
        "score": 11,
    }
)


@pytest.fixture
def signals_config(tmp_path: Path) -> Path:
    """The signals configuration, and beside it the rules the workers run: the textbook
    rules, which fire often on the few accounts and days a test can afford (the defaults
    fire a handful), so every comparison with a replay has triggers to compare."""
    path = tmp_path / "signals.yaml"
    path.write_text("usage:\n  core_features: [" + ", ".join(CORE_FEATURES) + "]\n")
    (tmp_path / "rules.yaml").write_text("extends: textbook\n")
    return path


def signals_env(config_path: Path) -> dict[str, str]:
    """A worker's settings for ``signals_config`` and the rules beside it."""
    return {
        "PULSE_SIGNALS_CONFIG_FILE": str(config_path),
        "PULSE_RULES_FILE": str(config_path.parent / "rules.yaml"),
    }


def simulated(
    accounts: int, days: int, malformed: float = 0.0, segment_share: float = 0.0
) -> list[tuple[TopicKind, bytes, bytes]]:
    """A time-ordered stream in our own shapes, plus one late clock event per partition.

    The clock events carry every partition's event clock past the end, so the worker
    ticks through the last day as a replay does.
    """
    config = SimulationConfig(
        accounts=accounts, days=days, segment_share=segment_share, malformed_rate=malformed
    )
    records = [(r.kind, r.key, r.value) for r in Simulation(config).records()]
    end = config.start + timedelta(days=days + 2)
    for partition in range(PARTITIONS):
        account = next(
            f"clock-{i}"
            for i in range(1000)
            if partition_for(f"clock-{i}".encode(), PARTITIONS) == partition
        )
        profile = AccountProfile(event_id=f"{account}-end", occurred_at=end, account_id=account)
        records.append((TopicKind.ACCOUNTS, account.encode(), encode(profile)))
    return records


async def produce(
    bootstrap: str | None,
    prefix: str,
    records: list[tuple[TopicKind, bytes, bytes]],
    *,
    client: dict[str, Any] | None = None,
) -> None:
    """Send the records in order (to ``bootstrap``, or with the client settings ``client``)."""
    connect = client if client is not None else {"bootstrap_servers": bootstrap}
    producer = AIOKafkaProducer(**connect, acks="all", linger_ms=5)
    await producer.start()
    try:
        for kind, key, value in records:
            await producer.send(topic_name(kind, prefix), key=key, value=value)
        await producer.flush()
    finally:
        await producer.stop()


async def collect(
    bootstrap: str | None,
    topics: list[str],
    *,
    settle: float = 6.0,
    within: float = 180.0,
    client: dict[str, Any] | None = None,
) -> dict[str, list[bytes]]:
    """Read the topics until nothing new arrives for `settle` seconds after the first
    (from ``bootstrap``, or with the client settings ``client``, e.g. SASL_SSL)."""
    connect = client if client is not None else {"bootstrap_servers": bootstrap}
    consumer = AIOKafkaConsumer(*topics, **connect, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    got: dict[str, list[bytes]] = {topic: [] for topic in topics}
    started = time.monotonic()
    last_new: float | None = None
    try:
        while time.monotonic() - started < within:
            if last_new is not None and time.monotonic() - last_new >= settle:
                break
            batch = await consumer.getmany(timeout_ms=500)
            for tp, records in batch.items():
                got[tp.topic] += [r.value or b"" for r in records]
                last_new = time.monotonic()
    finally:
        await consumer.stop()
    return got


def replayed(records: list[tuple[TopicKind, bytes, bytes]], config_path: Path) -> ReplayResult:
    """What `pulse replay` gives for the valid records (cached: several checks ask)."""
    key = (id(records), len(records), config_path)
    if key not in _REPLAYS:
        events = []
        for kind, _, value in records:
            try:
                events.append((kind.value, decode_input(kind, value)))
            except PulseValidationError:
                continue
        until = max(event.occurred_at for _, event in events)
        _REPLAYS.clear()
        rules = read_rules(config_path.parent / "rules.yaml")
        _REPLAYS[key] = replay(events, read_config(config_path), rules, until=until)
    return _REPLAYS[key]


_REPLAYS: dict[tuple[int, int, Path], ReplayResult] = {}


def expected_triggers(
    records: list[tuple[TopicKind, bytes, bytes]], config_path: Path
) -> dict[str, dict]:
    result = replayed(records, config_path)
    return {t.trigger_id: orjson.loads(encode(t)) for t in result.triggers}


def expected_rejections(
    records: list[tuple[TopicKind, bytes, bytes]], config_path: Path
) -> set[tuple[str, str]]:
    """(kind, event id) of the events the replay rejects as late or unresolved: the ones
    the worker dead-letters too."""
    rejections = replayed(records, config_path).rejections
    return {(r.kind, r.event_id) for r in rejections if r.kind in ("late", "unresolved_user")}


def dead_lettered(letters: list[bytes]) -> set[tuple[str, str]]:
    """(kind, event id) of the dead letters whose original is a valid event."""
    found = set()
    for raw in letters:
        letter = orjson.loads(raw)
        kind = next(k for k in TopicKind if k.value in letter["source_topic"])
        original = base64.b64decode(letter["original_b64"])
        found.add((letter["error_kind"], decode_input(kind, original).event_id))
    return found


def describe(published: dict[str, dict], expected: dict[str, dict]) -> str:
    """Which triggers differ, readably."""
    lines = [
        f"{label}: {t['rule_id']} {t['account_id']} at {t['fired_at']}"
        for label, mine, other in (("missing", expected, published), ("extra", published, expected))
        for trigger_id, t in sorted(mine.items(), key=lambda item: item[1]["fired_at"])
        if trigger_id not in other
    ]
    return "\n".join(lines)


def assert_same_triggers(
    got: dict[str, list[bytes]], prefix: str, expected: dict[str, dict[str, Any]]
) -> None:
    """The distinct trigger ids on the output topics are exactly the replay's."""
    published = {}
    for topic in output_topics(prefix):
        for value in got[topic]:
            trigger = orjson.loads(value)
            published[trigger["trigger_id"]] = trigger
    assert expected, "the replay fires nothing: nothing is compared"
    assert set(published) == set(expected), describe(published, expected)


async def assert_view_matches_health(
    worker: WorkerProcess, snapshots: list[bytes], token: str | None, within: float = 30
) -> None:
    """Every account's Redis view shows its latest published health snapshot (eventually)."""
    latest: dict[str, dict[str, Any]] = {}
    for value in snapshots:
        snapshot = orjson.loads(value)
        latest[snapshot["account_id"]] = snapshot
    assert latest, "no health snapshot was published"
    deadline = time.monotonic() + within
    for account, snapshot in latest.items():
        while True:
            status, body = worker.get(f"/accounts/{account}", token=token)
            if status == 200 and orjson.loads(body)["health"] == snapshot:
                break
            assert time.monotonic() < deadline, f"view of {account}: {status} {body[:300]!r}"
            await asyncio.sleep(0.2)


def output_topics(prefix: str) -> list[str]:
    kinds = (TopicKind.CHURN_RISK, TopicKind.EXPANSION, TopicKind.ADVOCACY)
    return [topic_name(kind, prefix) for kind in kinds]


async def test_worker_gives_the_triggers_replay_gives(
    kafka_bootstrap: str,
    worker_factory: Callable[..., WorkerProcess],
    signals_config: Path,
) -> None:
    worker = worker_factory(**signals_env(signals_config), PULSE_API_TOKEN=TOKEN)
    worker.start()
    prefix = worker.env["PULSE_TOPIC_PREFIX"]
    records = simulated(accounts=12, days=30)
    await produce(kafka_bootstrap, prefix, records)

    got = await collect(
        kafka_bootstrap,
        [
            *output_topics(prefix),
            topic_name(TopicKind.HEALTH, prefix),
            topic_name(TopicKind.OUTCOMES, prefix),
            topic_name(TopicKind.DEAD_LETTER, prefix),
        ],
    )
    letters = [orjson.loads(v) for v in got[topic_name(TopicKind.DEAD_LETTER, prefix)]]
    assert [d["error_kind"] for d in letters if d["error_kind"] != "validation"] == [], letters

    # each cancellation's record, once, as the replay makes it (emitted_at aside)
    records_out = [orjson.loads(v) for v in got[topic_name(TopicKind.OUTCOMES, prefix)]]
    wanted = [orjson.loads(encode(c)) for c in replayed(records, signals_config).cancellations]
    assert wanted, "the population has cancellations to compare"
    assert all(r["emitted_at"] is not None for r in records_out)
    assert sorted(
        ({**r, "emitted_at": None} for r in records_out), key=lambda r: r["cancellation_id"]
    ) == sorted(wanted, key=lambda r: r["cancellation_id"])
    # and counted for the dashboard: paid or trial, warned of or not
    status, body = worker.get("/metrics")
    assert status == 200
    counted = {
        (s.labels["churn"], s.labels["warned"]): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
        if s.name == "pulse_cancellations_total"
    }
    expected_counts = Counter(
        ("trial" if r["trial"] else "paid", "yes" if r["prior_alerts"] else "no") for r in wanted
    )
    assert {k: v for k, v in counted.items() if v} == dict(expected_counts)

    triggers = [orjson.loads(v) for t in output_topics(prefix) for v in got[t]]
    published = {t["trigger_id"]: t for t in triggers}
    expected = expected_triggers(records, signals_config)
    assert len(expected) > 10
    assert set(published) == set(expected), describe(published, expected)
    for trigger_id, trigger in published.items():
        assert trigger["emitted_at"] is not None
        want = expected[trigger_id]
        assert (trigger["rule_id"], trigger["fired_at"], trigger["evidence"]) == (
            want["rule_id"],
            want["fired_at"],
            want["evidence"],
        )

    await assert_view_matches_health(worker, got[topic_name(TopicKind.HEALTH, prefix)], TOKEN)


async def test_bad_messages_are_dead_lettered_and_the_rest_processed(
    kafka_bootstrap: str,
    worker_factory: Callable[..., WorkerProcess],
    signals_config: Path,
) -> None:
    worker = worker_factory(**signals_env(signals_config))
    worker.start()
    prefix = worker.env["PULSE_TOPIC_PREFIX"]
    records = simulated(accounts=8, days=21)
    hostile = [
        (TopicKind.USAGE, b"acct-x", b"\xff\xfe not json"),
        (TopicKind.TICKETS, b"acct-x", b'{"type": "ticket", "event_id": 7}'),
        (TopicKind.BILLING, b"acct-x", b"[" * 5000),
        (TopicKind.FEEDBACK, None, BAD_SCORE),
    ]
    mixed = records[: len(records) // 2] + hostile + records[len(records) // 2 :]
    await produce(kafka_bootstrap, prefix, mixed)

    got = await collect(
        kafka_bootstrap, [*output_topics(prefix), topic_name(TopicKind.DEAD_LETTER, prefix)]
    )

    letters = [orjson.loads(v) for v in got[topic_name(TopicKind.DEAD_LETTER, prefix)]]
    invalid = [d for d in letters if d["error_kind"] == "validation"]
    assert len(invalid) == len(hostile)
    reasons = " | ".join(d["error_message"] for d in invalid)
    assert "invalid JSON" in reasons
    assert "event_id" in reasons
    assert "score" in reasons
    assert {d["source_topic"] for d in invalid} == {
        topic_name(kind, prefix) for kind, _, _ in hostile
    }
    triggers = {orjson.loads(v)["trigger_id"] for t in output_topics(prefix) for v in got[t]}
    assert triggers, worker.tail()
    assert triggers == set(expected_triggers(records, signals_config)), worker.tail()
    assert worker.process is not None
    assert worker.process.poll() is None


async def test_http_endpoints_token_and_metrics(
    kafka_bootstrap: str, worker_factory: Callable[..., WorkerProcess], signals_config: Path
) -> None:
    worker = worker_factory(**signals_env(signals_config), PULSE_API_TOKEN=TOKEN)
    worker.start()
    prefix = worker.env["PULSE_TOPIC_PREFIX"]
    await produce(kafka_bootstrap, prefix, simulated(accounts=12, days=21))
    await collect(kafka_bootstrap, output_topics(prefix), settle=4)

    assert worker.get("/healthz")[0] == 200
    assert worker.get("/readyz")[0] == 200
    assert worker.get("/accounts/acct-00000")[0] == 401
    assert worker.get("/accounts/acct-00000", token="wrong")[0] == 401
    assert worker.get("/accounts?limit=5")[0] == 401
    status, body = worker.get("/accounts?limit=5", token=TOKEN)
    assert status == 200
    assert 1 <= len(orjson.loads(body)["accounts"]) <= 5
    assert worker.get("/accounts?band=purple", token=TOKEN)[0] == 400
    assert worker.get("/accounts/nobody", token=TOKEN)[0] == 404

    status, body = worker.get("/metrics")
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    events = sum(
        s.value for s in families["pulse_events_in"].samples if s.labels.get("kind") == "received"
    )
    assert events > 100
    assert sum(s.value for s in families["pulse_triggers"].samples) > 0
    assert "acct-0000" not in body.decode()  # no account data in metrics
    assert "acct-0000" not in worker.get("/readyz")[1].decode()


async def test_tail_and_account_commands_show_what_the_worker_published(
    kafka_bootstrap: str, worker_factory: Callable[..., WorkerProcess], signals_config: Path
) -> None:
    worker = worker_factory(**signals_env(signals_config))
    worker.start()
    prefix = worker.env["PULSE_TOPIC_PREFIX"]
    await produce(kafka_bootstrap, prefix, simulated(accounts=12, days=30))
    outcomes = topic_name(TopicKind.OUTCOMES, prefix)
    got = await collect(kafka_bootstrap, [*output_topics(prefix), outcomes], settle=4)
    published = [orjson.loads(v) for t in output_topics(prefix) for v in got[t]]
    assert len(published) >= 2
    ended = [orjson.loads(v) for v in got[outcomes]]
    assert ended, "a cancellation to show"
    env = {k: v for k, v in worker.env.items() if k != "PULSE_WEB_PORT"}

    def pulse(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "engine.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    as_json = pulse("tail", "--from-beginning", "--limit", str(len(published)), "--json")
    assert as_json.returncode == 0, as_json.stderr
    tailed = [orjson.loads(line) for line in as_json.stdout.splitlines()]
    assert {t["trigger_id"] for t in tailed} == {t["trigger_id"] for t in published}

    everything = len(published) + len(ended)
    with_outcomes = pulse("tail", "--from-beginning", "--outcomes", "--limit", str(everything))
    assert with_outcomes.returncode == 0, with_outcomes.stderr
    for record in ended:
        assert f"CANCELLED  {'trial lapse' if record['trial'] else 'paid churn'}" in (
            with_outcomes.stdout
        )
        assert record["account_id"] in with_outcomes.stdout

    readable = pulse("tail", "--from-beginning", "--limit", "1")
    first = next(t for t in published if t["trigger_id"] == tailed[0]["trigger_id"])
    assert first["explanation"] in readable.stdout
    assert first["rule_id"] in readable.stdout

    account = first["account_id"]
    shown = pulse("account", account)
    assert shown.returncode == 0, shown.stderr
    view = orjson.loads(shown.stdout)
    assert view["account_id"] == account
    assert first["trigger_id"] in {t["trigger_id"] for t in view["recent_triggers"]}
    missing = pulse("account", "no-such-account")
    assert missing.returncode == 1
    assert "no view for account 'no-such-account'" in missing.stderr


async def test_restarted_worker_resumes_without_losing_a_trigger(
    kafka_bootstrap: str, worker_factory: Callable[..., WorkerProcess], signals_config: Path
) -> None:
    first = worker_factory(**signals_env(signals_config))
    first.start()
    prefix = first.env["PULSE_TOPIC_PREFIX"]
    records = simulated(accounts=10, days=21)
    half = len(records) // 2
    await produce(kafka_bootstrap, prefix, records[:half])
    before = await collect(kafka_bootstrap, output_topics(prefix), settle=4)
    assert sum(map(len, before.values())) > 0
    assert first.stop() == 0

    second = worker_factory(
        **signals_env(signals_config), PULSE_DATA_DIR=first.env["PULSE_DATA_DIR"]
    )
    second.start()
    await produce(kafka_bootstrap, prefix, records[half:])
    got = await collect(kafka_bootstrap, output_topics(prefix))

    assert_same_triggers(got, prefix, expected_triggers(records, signals_config))


async def test_two_workers_split_partitions_and_match_one(
    kafka_bootstrap: str, worker_factory: Callable[..., WorkerProcess], signals_config: Path
) -> None:
    one = worker_factory(**signals_env(signals_config))
    two = worker_factory(**signals_env(signals_config))
    one.start()
    two.start()
    prefix = one.env["PULSE_TOPIC_PREFIX"]
    records = simulated(accounts=12, days=21)
    await produce(kafka_bootstrap, prefix, records)
    got = await collect(kafka_bootstrap, output_topics(prefix))

    assert_same_triggers(got, prefix, expected_triggers(records, signals_config))
    for worker in (one, two):
        _, body = worker.get("/metrics")
        families = {f.name: f for f in text_string_to_metric_families(body.decode())}
        received = sum(
            s.value
            for s in families["pulse_events_in"].samples
            if s.labels.get("kind") == "received"
        )
        assert received > 0, "a worker got no partition"


async def test_processing_goes_on_while_redis_is_down_and_the_view_catches_up(
    kafka_bootstrap: str,
    worker_factory: Callable[..., WorkerProcess],
    signals_config: Path,
    redis_server: RedisServer,
) -> None:
    worker = worker_factory(**signals_env(signals_config), PULSE_REDIS_URL=redis_server.url)
    worker.start()
    prefix = worker.env["PULSE_TOPIC_PREFIX"]
    records = simulated(accounts=8, days=14)
    half = len(records) // 2
    await produce(kafka_bootstrap, prefix, records[:half])
    await collect(kafka_bootstrap, output_topics(prefix), settle=3)
    redis_server.stop()
    await produce(kafka_bootstrap, prefix, records[half:])
    got = await collect(
        kafka_bootstrap, [*output_topics(prefix), topic_name(TopicKind.HEALTH, prefix)]
    )
    published = {orjson.loads(v)["trigger_id"] for t in output_topics(prefix) for v in got[t]}
    assert published
    assert published == set(expected_triggers(records, signals_config))
    _, body = worker.get("/metrics")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert sum(s.value for s in families["pulse_redis_write_errors"].samples) > 0

    redis_server.start()
    await assert_view_matches_health(worker, got[topic_name(TopicKind.HEALTH, prefix)], None)


async def test_segment_users_are_resolved_through_group_calls(
    kafka_bootstrap: str, worker_factory: Callable[..., WorkerProcess], signals_config: Path
) -> None:
    """User-only track calls reach their account via the group call: none is dropped and
    the triggers are the replay's (which resolves users the same way)."""
    worker = worker_factory(**signals_env(signals_config))
    worker.start()
    prefix = worker.env["PULSE_TOPIC_PREFIX"]
    records = simulated(accounts=12, days=14, segment_share=1.0)
    await produce(kafka_bootstrap, prefix, records)
    got = await collect(
        kafka_bootstrap, [*output_topics(prefix), topic_name(TopicKind.DEAD_LETTER, prefix)]
    )

    letters = got[topic_name(TopicKind.DEAD_LETTER, prefix)]
    assert dead_lettered(letters) == expected_rejections(records, signals_config)
    assert_same_triggers(got, prefix, expected_triggers(records, signals_config))


async def test_a_backlog_with_user_only_events_gives_the_replay_triggers(
    kafka_bootstrap: str, worker_factory: Callable[..., WorkerProcess], signals_config: Path
) -> None:
    """A worker started on weeks of backlog: user-only events take the detour through the
    users agent, yet the event clock waits for them (watermarks travel with the detour),
    so none arrives late and the triggers are the replay's."""
    worker = worker_factory(**signals_env(signals_config))
    prefix = worker.env["PULSE_TOPIC_PREFIX"]
    records = simulated(accounts=60, days=60, segment_share=0.5)
    settings = Settings(kafka_bootstrap=kafka_bootstrap)
    await create_catalogue(settings, prefix, PARTITIONS)
    await produce(kafka_bootstrap, prefix, records)  # all of it before the worker starts
    worker.start()
    got = await collect(
        kafka_bootstrap, [*output_topics(prefix), topic_name(TopicKind.DEAD_LETTER, prefix)]
    )

    letters = got[topic_name(TopicKind.DEAD_LETTER, prefix)]
    assert dead_lettered(letters) == expected_rejections(records, signals_config)
    assert_same_triggers(got, prefix, expected_triggers(records, signals_config))


async def test_more_accounts_than_the_state_cache_holds_gives_the_replay_triggers(
    kafka_bootstrap: str, worker_factory: Callable[..., WorkerProcess], signals_config: Path
) -> None:
    """With room for 100 decoded states and 180 accounts, states are evicted and decoded
    again from the table all the time (daily sweeps included): nothing changes."""
    worker = worker_factory(**signals_env(signals_config), PULSE_STATE_CACHE_ACCOUNTS="100")
    worker.start()
    prefix = worker.env["PULSE_TOPIC_PREFIX"]
    records = simulated(accounts=180, days=8)
    await produce(kafka_bootstrap, prefix, records)
    got = await collect(kafka_bootstrap, output_topics(prefix))
    assert_same_triggers(got, prefix, expected_triggers(records, signals_config))


async def test_changelogs_close_small_segments_so_the_broker_can_compact_them(
    kafka_admin: AIOKafkaAdminClient, worker_factory: Callable[..., WorkerProcess]
) -> None:
    """The log cleaner compacts closed segments only: with the broker's default (1 GiB)
    a table's changelog kept every update, and recovery read them all (3.8 records per
    account on the benchmark; 1 after compaction)."""
    worker = worker_factory()
    worker.start()
    app_id = worker.env["PULSE_APP_ID"]
    for table in ("account-state", "user-links", "user-parked"):
        configs = await configs_of(kafka_admin, f"{app_id}-{table}-changelog")
        assert configs["cleanup.policy"] == "compact", table
        assert int(configs["segment.bytes"]) == 16 * 1024 * 1024, table
        assert int(configs["segment.ms"]) == 3_600_000, table
