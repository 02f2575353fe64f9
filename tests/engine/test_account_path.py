"""engine.runtime.accounts without a broker: where each message of an account-keyed
partition goes (dead letter, ignored, the user or re-keying detour, or the core), with
stub topics and a dict for the table. The real-broker tests (test_worker.py) stay."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from engine.metrics import Metrics
from engine.routing import partition_for
from engine.runtime.accounts import KIND_HEADER, AccountPath
from engine.runtime.store import AccountStore
from engine.settings import Settings
from signals.config import SignalsConfig
from signals.core import SignalProcessor
from signals.driver import AccountDriver, TickSchedule
from signals.rules import default_rules
from tests.signals.factories import ACCOUNT, login, usage
from topics.catalogue import TopicKind
from topics.codec import encode, encode_key
from topics.models import UserLink

PARTITIONS = 6
USAGE_TOPIC = "pulse.usage.v1"


class Table(dict[bytes, bytes]):
    """What AccountStore needs of a faust table."""

    def get_in(self, partition: int, key: bytes) -> bytes | None:
        return self.get(key)

    def set_for(self, message: Any, key: bytes, value: bytes) -> None:
        self[key] = value


@dataclass
class Topic:
    sent: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, **message: Any) -> Any:
        self.sent.append(message)
        return SimpleNamespace()  # tracked, never settled here


@dataclass
class Publisher:
    """Records what the path hands on."""

    dead: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    published: list[Any] = field(default_factory=list)
    counted: list[tuple[str, str]] = field(default_factory=list)

    def count_in(self, topic: str, kind: str) -> None:
        self.counted.append((topic, kind))

    async def dead_letter(self, message: Any, key: Any, value: Any, kind: str, reason: str) -> None:
        self.dead.append((kind, reason))

    def ignore(self, topic: str, exc: Exception) -> None:
        self.ignored.append(topic)

    async def refused(self, rejections: Any, *args: Any, **kwargs: Any) -> None:
        assert not rejections

    async def publish(self, outcome: Any, published: Any, *args: Any) -> None:
        self.published.append(outcome)


class Clock:
    def hear(self, agent: str, message: Any) -> bool:
        return False


@dataclass
class Path:
    path: AccountPath
    store: AccountStore
    publisher: Publisher
    users: Topic
    rekey: Topic


@pytest.fixture
def path() -> Path:
    settings = Settings(clock="wall", topic_partitions=PARTITIONS)
    config = SignalsConfig()
    processor = SignalProcessor(config, default_rules())
    store = AccountStore(Table(), PARTITIONS, 100)  # type: ignore[arg-type]
    publisher, users, rekey = Publisher(), Topic(), Topic()
    account_path = AccountPath(
        settings,
        processor,
        AccountDriver(processor, TickSchedule(config.tick_every)),
        store,
        publisher,  # type: ignore[arg-type]
        clock=Clock(),  # type: ignore[arg-type]
        metrics=Metrics(CollectorRegistry()),
        input_kinds={USAGE_TOPIC: TopicKind.USAGE},
        ticks_topic="pulse-ticks",
        account_events=rekey,
        user_events=users,
    )
    return Path(account_path, store, publisher, users, rekey)


def message(key: bytes | None, partition: int, **headers: bytes) -> SimpleNamespace:
    return SimpleNamespace(
        topic=USAGE_TOPIC,
        partition=partition,
        offset=7,
        timestamp=0.0,
        headers=list(headers.items()),
    )


def recent() -> datetime:
    """An hour ago: the wall clock judges lateness and the future."""
    return datetime.now(UTC) - timedelta(hours=1)


HOME = partition_for(encode_key(ACCOUNT), PARTITIONS)


async def handle(path: Path, key: bytes | None, partition: int, value: bytes) -> None:
    msg = message(key, partition)
    path.store.begin(msg)
    await path.path.on_message(msg, key, value)


async def test_an_event_at_its_accounts_partition_reaches_the_core(path: Path) -> None:
    value = encode(login(recent()))
    await handle(path, encode_key(ACCOUNT), HOME, value)
    assert path.store.accounts_in(HOME) == {encode_key(ACCOUNT)}
    _, state = path.store.load(encode_key(ACCOUNT), HOME)
    assert state.first_us > 0, "the event was applied to the account's state"
    assert path.publisher.published, "what the core gave was published"
    assert path.users.sent == path.rekey.sent == []
    assert path.publisher.dead == []


async def test_a_mis_keyed_event_is_re_keyed_through_the_detour_untouched(path: Path) -> None:
    value = encode(login(recent()))
    wrong = (HOME + 1) % PARTITIONS
    await handle(path, b"someone-else", wrong, value)
    (sent,) = path.rekey.sent
    assert (sent["key"], sent["value"]) == (encode_key(ACCOUNT), value)
    assert (KIND_HEADER, b"usage") in sent["headers"]
    assert path.store.accounts_in(wrong) == set(), "no state where the account does not live"


async def test_user_only_usage_and_links_go_to_user_resolution(path: Path) -> None:
    only_user = encode(usage("Report Run", recent(), account=None, user="u9"))
    link = encode(UserLink(event_id="g1", occurred_at=recent(), user_id="u9", account_id=ACCOUNT))
    await handle(path, b"u9", 0, only_user)
    await handle(path, b"u9", 0, link)
    assert [m["key"] for m in path.users.sent] == [b"u9", b"u9"]
    assert not path.publisher.published


async def test_invalid_input_is_dead_lettered_with_its_reason(path: Path) -> None:
    await handle(path, encode_key(ACCOUNT), HOME, orjson.dumps({"type": "track"}))
    ((kind, reason),) = path.publisher.dead
    assert kind == "validation"
    assert "event_id" in reason or "messageId" in reason or "required" in reason
    assert not path.publisher.published


async def test_an_event_from_a_detour_keeps_its_kind_from_the_header(path: Path) -> None:
    msg = message(encode_key(ACCOUNT), HOME, **{KIND_HEADER: b"tickets"})
    msg.topic = "pulse-account-events"
    assert path.path.kind_of(msg) is TopicKind.TICKETS
    msg.headers = []
    with pytest.raises(ValueError, match="no pulse-kind header"):
        path.path.kind_of(msg)
