"""Hostile input through a real worker: hypothesis-made bad messages (malformed bytes, wrong
types, deep and oversized JSON, hostile strings, extreme timestamps) and legal-but-odd ones
(unknown accounts with hostile ids), interleaved with a simulated stream on the input topics.

The worker must survive; every message the decoder refuses must be on the dead-letter
topic, once, from where it came, byte for byte, with a reason; nothing else may be
dead-lettered but a user nobody linked; and the triggers of the simulated accounts and of
the odd accounts must be exactly those the replay gives for the valid events.
"""

from __future__ import annotations

import base64
import os
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from engine.process import WorkerProcess
from engine.signals_files import read_config
from signals.replay import replay
from signals.rules.loader import textbook_rules
from tests.engine.test_worker import (
    collect,
    describe,
    expected_triggers,
    output_topics,
    produce,
    simulated,
)
from tests.security.hostile import (
    FUZZ_COUNTS,
    LONG,
    T0,
    T0_EPOCH,
    hostile_messages,
    odd_ids,
)
from tests.topics import payloads
from topics.catalogue import INPUT_KINDS, TopicKind, topic_name
from topics.codec import decode_input, encode
from topics.errors import PulseIgnored, PulseValidationError
from topics.models import InputEvent, UserLink

MAX_BYTES = 16 * 1024
HOSTILE = 1500 if LONG else 160
ODD = 200 if LONG else 30
SEED = int(os.environ.get("PULSE_FUZZ_SEED", "20261123"))

keys = st.one_of(
    st.none(),
    st.just(b"acme"),
    st.binary(max_size=40),
    st.text(max_size=20).map(lambda text: text.encode("utf-8", "surrogatepass")),
)


@dataclass
class Sent:
    kind: TopicKind
    key: bytes | None
    value: bytes
    label: str
    event: InputEvent | None = None
    """The decoded event when the decoder accepts the message."""
    ignored: bool = False
    """Well-formed but deliberately unused (e.g. a Stripe type Pulse has no use for):
    counted by the worker, never dead-lettered."""
    where: tuple[str, int, int] | None = None
    """(topic, partition, offset) once produced."""


def _generate_hostile() -> list[tuple[TopicKind, bytes | None, str, bytes]]:
    made: list[tuple[TopicKind, bytes | None, str, bytes]] = []

    @settings(
        max_examples=HOSTILE,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @seed(SEED)
    @given(kind=st.sampled_from(INPUT_KINDS), key=keys, data=st.data())
    def draw(kind: TopicKind, key: bytes | None, data: st.DataObject) -> None:
        label, value = data.draw(hostile_messages(kind, MAX_BYTES))
        made.append((kind, key, label, value))

    draw()
    return made


def _generate_odd(taken: set[str]) -> list[tuple[TopicKind, str, str, Any]]:
    """Valid events of unknown accounts with legal but hostile ids: (kind, id, key, score)."""
    made: list[tuple[TopicKind, str, str, Any]] = []

    @settings(
        max_examples=ODD,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @seed(SEED)
    @given(
        kind=st.sampled_from(
            [TopicKind.FEEDBACK, TopicKind.TICKETS, TopicKind.ACCOUNTS, TopicKind.USAGE]
        ),
        account=odd_ids,
        key=st.sampled_from(["account", "none", "other"]),
        score=st.integers(0, 10),
    )
    def draw(kind: TopicKind, account: str, key: str, score: int) -> None:
        if account not in taken and not account.startswith(("acct-", "clock-")):
            taken.add(account)
            made.append((kind, account, key, score))

    draw()
    return made


def _odd_message(kind: TopicKind, account: str, number: int, score: int) -> bytes:
    event_id = f"fuzz-odd-{number}"
    shape = {
        TopicKind.FEEDBACK: payloads.survey(score=score),
        TopicKind.TICKETS: payloads.ticket(),
        TopicKind.ACCOUNTS: payloads.account(),
        TopicKind.USAGE: payloads.usage(user_id=None, properties={"rtl": "\u202e", "nul": "\x00"}),
    }[kind]
    return orjson.dumps(shape | {"event_id": event_id, "account_id": account, "occurred_at": T0})


def _at(value: bytes, when: datetime) -> bytes:
    """Move a message (made at T0) to `when`; same length, so sizes are unchanged."""
    instant = when.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    epoch = str(int(when.timestamp())).encode()
    assert len(instant) == len(T0)
    assert len(epoch) == len(T0_EPOCH)
    return value.replace(T0.encode(), instant).replace(T0_EPOCH.encode(), epoch)


STRIPE_OPTIONS = {"stripe_accept_test_mode": True}
"""The hostile Stripe payloads are test-mode events: the worker is told to read them
(PULSE_STRIPE_ACCEPT_TEST_MODE) so that their parsing is what gets fuzzed."""


def _classify(sent: Sent) -> None:
    try:
        sent.event = decode_input(sent.kind, sent.value, max_bytes=MAX_BYTES, stripe=STRIPE_OPTIONS)
    except PulseValidationError:
        sent.event = None
    except PulseIgnored:
        sent.event, sent.ignored = None, True


def _account_of(event: InputEvent) -> str | None:
    return None if isinstance(event, UserLink) else event.account_id


async def _produce(bootstrap: str, prefix: str, batch: list[Sent]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_request_size=8 * MAX_BYTES
    )
    await producer.start()
    try:
        futures = [
            await producer.send(topic_name(s.kind, prefix), key=s.key, value=s.value) for s in batch
        ]
        for sent, future in zip(batch, futures, strict=True):
            metadata = await future
            sent.where = (metadata.topic, metadata.partition, metadata.offset)
    finally:
        await producer.stop()


@pytest.fixture
def signals_config(tmp_path: Path) -> Path:
    from engine.simulator import CORE_FEATURES

    path = tmp_path / "signals.yaml"
    path.write_text("usage:\n  core_features: [" + ", ".join(CORE_FEATURES) + "]\n")
    (tmp_path / "rules.yaml").write_text("extends: textbook\n")  # as tests/engine/test_worker
    return path


@dataclass
class Batch:
    mixed: list[Sent]
    """Everything produced, in order: the stream with the extra messages inside it."""
    extra: int
    simulated_accounts: set[str]
    odd_accounts: set[str]
    excluded: Counter[str]


def _batch(rng: random.Random) -> Batch:
    """The simulated stream with hostile messages and odd accounts' events put after
    random events of its last three quarters, each moved to that event's time."""
    stream = [Sent(kind, key, value, "simulated") for kind, key, value in simulated(12, 30)]
    for sent in stream:
        _classify(sent)
    body, clocks = stream[:-3], stream[-3:]  # simulated() ends with one clock event a partition
    times = [s.event.occurred_at for s in body if s.event is not None]
    assert len(times) == len(body)
    simulated_accounts = {a for s in stream if s.event and (a := _account_of(s.event))}
    after: dict[int, list[Sent]] = {}
    excluded: Counter[str] = Counter()
    extra = 0
    for kind, key, label, value in _generate_hostile():
        position = rng.randrange(len(body) // 4, len(body))
        sent = Sent(kind, key, _at(value, times[position]), label)
        _classify(sent)
        if sent.event is not None and not times[0] <= sent.event.occurred_at <= times[-1]:
            # Legal but far from the stream in time: under the event clock such an event
            # moves the clock (see test_a_future_event_under_the_event_clock_...).
            excluded["valid, outside the stream's time"] += 1
            continue
        after.setdefault(position, []).append(sent)
        extra += 1
    odd = _generate_odd(set(simulated_accounts) | {"acme"})
    for number, (kind, account, key_choice, score) in enumerate(odd):
        position = rng.randrange(len(body) // 4, len(body))
        key = {"account": account.encode(), "none": None, "other": b"acme"}[key_choice]
        value = _at(_odd_message(kind, account, number, score), times[position])
        sent = Sent(kind, key, value, f"odd account {kind.value}")
        _classify(sent)
        assert sent.event is not None, value
        after.setdefault(position, []).append(sent)
        extra += 1
    mixed = [m for index, sent in enumerate(body) for m in (sent, *after.get(index, []))]
    mixed += clocks
    for sent in mixed:
        if sent.kind is TopicKind.ACCOUNTS and sent.key is None:
            sent.key = b"no-key"  # the broker refuses keyless messages on a compacted topic
    odd_accounts = {account for _, account, _, _ in odd}
    return Batch(mixed, extra, simulated_accounts, odd_accounts, excluded)


def _refused_command(letter: dict[str, Any]) -> bool:
    """A well-formed command naming a rule or health component that is not in force, or
    an account with no event before it: the decoder cannot know, the core refuses it
    (signals.commands), with the field's name."""
    return (
        letter["error_kind"] == "invalid_command"
        and ".commands." in letter["source_topic"]
        and letter["error_message"].startswith(("rule_id: ", "component: ", "account_id: "))
    )


def _check_dead_letters(mixed: list[Sent], letters: list[dict[str, Any]]) -> int:
    """Every refused message is dead-lettered once, from where it came, intact, with a
    reason; nothing else is, but a user-only event whose user nobody linked."""
    invalid = {s.where: s for s in mixed if s.event is None and not s.ignored}
    validation: dict[Any, dict[str, Any]] = {}
    for letter in letters:
        if letter["error_kind"] == "validation":
            where = (letter["source_topic"], letter["partition"], letter["offset"])
            assert where not in validation, f"dead-lettered twice: {where}"
            validation[where] = letter
    strange = [
        (d["error_kind"], d["error_message"][:300], d["source_topic"], d["offset"])
        for d in letters
        if d["error_kind"] not in {"validation", "unresolved_user"} and not _refused_command(d)
    ]
    missing = [
        (invalid[w].label, len(invalid[w].value), invalid[w].value[:120], w)
        for w in set(invalid) - set(validation)
    ]
    assert missing == [], f"refused but not dead-lettered; other dead letters: {strange}"
    assert strange == []
    assert set(validation) <= set(invalid), "dead-lettered but valid"
    for where, letter in validation.items():
        sent = invalid[where]
        kept = base64.b64decode(letter["original_b64"])
        if len(sent.value) > MAX_BYTES:  # kept up to the limit; its offset points at it whole
            assert letter["original_truncated"]
            assert kept == sent.value[:MAX_BYTES]
        else:
            assert not letter["original_truncated"]
            assert kept == sent.value
        key = letter["original_key_b64"]
        assert (None if key is None else base64.b64decode(key)) == sent.key
        field, colon, reason = letter["error_message"].partition(": ")
        assert field, letter
        assert colon, letter
        assert reason.strip(), letter
    unlinked = {
        (d["source_topic"], d["partition"], d["offset"])
        for d in letters
        if d["error_kind"] == "unresolved_user"
    }
    user_only = {s.where for s in mixed if s.event is not None and _account_of(s.event) is None}
    assert unlinked <= user_only
    return len(invalid)


def _check_triggers(batch: Batch, got: dict[str, list[bytes]], prefix: str, config: Path) -> int:
    """The simulated and the odd accounts get exactly the triggers the replay gives."""
    valid = [(s.kind.value, s.event) for s in batch.mixed if s.event is not None]
    until = max(event.occurred_at for _, event in valid)
    result = replay(valid, read_config(config), textbook_rules(), until=until)
    checked = batch.simulated_accounts | batch.odd_accounts
    expected = {
        t.trigger_id: orjson.loads(encode(t)) for t in result.triggers if t.account_id in checked
    }
    published = {
        trigger["trigger_id"]: trigger
        for topic in output_topics(prefix)
        for trigger in map(orjson.loads, got[topic])
        if trigger["account_id"] in checked
    }
    assert len(expected) > 10
    assert set(published) == set(expected), describe(published, expected)
    # One event each is never news (an account's first day of data), so the odd accounts
    # show they were processed by the health snapshots their NPS and tickets gave.
    health = got[topic_name(TopicKind.HEALTH, prefix)]
    scored = {orjson.loads(value)["account_id"] for value in health} & batch.odd_accounts
    assert scored, "no odd account got a health snapshot: were their events processed?"
    return len(published)


async def test_hostile_input_is_dead_lettered_and_the_valid_stream_around_it_processed(
    kafka_bootstrap: str, worker_factory: Callable[..., WorkerProcess], signals_config: Path
) -> None:
    started = time.monotonic()
    worker = worker_factory(
        PULSE_SIGNALS_CONFIG_FILE=str(signals_config),
        PULSE_RULES_FILE=str(signals_config.parent / "rules.yaml"),
        PULSE_MAX_MESSAGE_BYTES=str(MAX_BYTES),
        PULSE_STRIPE_ACCEPT_TEST_MODE="true",
    )
    worker.start()
    prefix = worker.env["PULSE_TOPIC_PREFIX"]
    batch = _batch(random.Random(SEED))

    await _produce(kafka_bootstrap, prefix, batch.mixed)
    dead_topic = topic_name(TopicKind.DEAD_LETTER, prefix)
    health_topic = topic_name(TopicKind.HEALTH, prefix)
    got = await collect(
        kafka_bootstrap, [*output_topics(prefix), dead_topic, health_topic], settle=6
    )

    assert worker.process is not None
    assert worker.process.poll() is None, worker.tail()
    assert worker.get("/readyz")[0] == 200
    letters = [orjson.loads(v) for v in got[dead_topic]]
    refused = _check_dead_letters(batch.mixed, letters)
    triggers = _check_triggers(batch, got, prefix, signals_config)
    assert "internal error" not in worker.log.read_text(errors="replace")
    assert worker.stop() == 0
    FUZZ_COUNTS["worker end to end (hostile + odd messages)"] += batch.extra
    print(  # the closing note wants these figures
        f"\nfuzz through the worker (seed {SEED}): {len(batch.mixed)} messages, "
        f"{batch.extra} hostile or odd, {refused} refused and dead-lettered, "
        f"{len(batch.odd_accounts)} odd accounts, excluded {dict(batch.excluded)}, "
        f"dead letters by kind {dict(Counter(d['error_kind'] for d in letters))}, "
        f"{triggers} triggers checked, {time.monotonic() - started:.0f}s"
    )


async def test_a_message_far_over_the_size_limit_is_dead_lettered(
    kafka_bootstrap: str, worker_factory: Callable[..., WorkerProcess], signals_config: Path
) -> None:
    """A message the broker accepts but that is many times the worker's limit: refused
    before parsing and dead-lettered with the size as the reason; the worker goes on."""
    worker = worker_factory(
        PULSE_SIGNALS_CONFIG_FILE=str(signals_config),
        PULSE_RULES_FILE=str(signals_config.parent / "rules.yaml"),
        PULSE_MAX_MESSAGE_BYTES=str(MAX_BYTES),
    )
    worker.start()
    prefix = worker.env["PULSE_TOPIC_PREFIX"]
    records = simulated(3, 6)
    huge = (TopicKind.FEEDBACK, b"acct-x", b'{"comment": "' + b"x" * (30 * MAX_BYTES) + b'"}')
    mixed = [*records[:10], huge, *records[10:]]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, max_request_size=2**20)
    await producer.start()
    try:
        for kind, key, value in mixed:
            await producer.send_and_wait(topic_name(kind, prefix), key=key, value=value)
    finally:
        await producer.stop()
    dead_topic = topic_name(TopicKind.DEAD_LETTER, prefix)
    try:
        got = await collect(
            kafka_bootstrap, [*output_topics(prefix), dead_topic], settle=4, within=15
        )
        letters = [orjson.loads(v) for v in got[dead_topic]]
        reasons = [d["error_message"] for d in letters if d["error_kind"] == "validation"]
        assert reasons == [f"<message>: {len(huge[2])} bytes is over the {MAX_BYTES}-byte limit"]
        published = {orjson.loads(v)["trigger_id"] for t in output_topics(prefix) for v in got[t]}
        assert published == set(expected_triggers(records, signals_config))
        assert worker.process is not None
        assert worker.process.poll() is None
    finally:
        worker.stop(signal.SIGKILL)  # a worker whose agent died may not stop on SIGTERM


async def test_a_future_event_under_the_event_clock_is_dead_lettered_not_obeyed(
    kafka_bootstrap: str, worker_factory: Callable[..., WorkerProcess], signals_config: Path
) -> None:
    worker = worker_factory(PULSE_SIGNALS_CONFIG_FILE=str(signals_config))
    worker.start()
    prefix = worker.env["PULSE_TOPIC_PREFIX"]
    records = simulated(4, 8)
    ahead = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    future = payloads.survey(account_id="acct-future", occurred_at=ahead.isoformat(), score=2)
    half = len(records) // 2
    mixed = [*records[:half], (TopicKind.FEEDBACK, b"acct-future", orjson.dumps(future))]
    mixed += records[half:]
    await produce(kafka_bootstrap, prefix, mixed)
    dead_topic = topic_name(TopicKind.DEAD_LETTER, prefix)
    got = await collect(kafka_bootstrap, [*output_topics(prefix), dead_topic], settle=5)

    published = {
        orjson.loads(v)["trigger_id"]: orjson.loads(v)
        for t in output_topics(prefix)
        for v in got[t]
    }
    expected = expected_triggers(records, signals_config)
    assert set(published) == set(expected), describe(published, expected)
    letters = [orjson.loads(v) for v in got[dead_topic]]
    assert [d["error_message"].partition(":")[0] for d in letters] == ["occurred_at"]
