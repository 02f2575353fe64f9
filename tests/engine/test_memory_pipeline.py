"""The worker's whole pipeline without a broker ends where the replay ends.

The runtime the worker runs (engine.runtime.pipeline) over the in-memory broker of
tests/engine/memory.py: a simulated backlog with user-only usage, re-keying, late and
duplicated events, read in orders a seeded random source picks, by one worker or two
with a rebalance, with crashes before each commit step. Each run is checked as
``pulse verify`` checks a deployment: every trigger id and its content, every
account's final state, nothing lost, against the replay of the same input. The same
cases on a real broker: test_backlog.py and tests/faults.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest

from engine.demo import clock_events
from engine.settings import Settings
from engine.simulator import CORE_FEATURES
from engine.simulator.generator import Simulation, SimulationConfig
from engine.verify import VerifyReport, verify
from engine.verify_cli import decode_inputs
from signals.config import load_config
from signals.rules.loader import textbook_rules
from tests.engine.memory import (
    COMMIT_STEPS,
    MemoryBroker,
    MemoryWorker,
    Plan,
    drain,
    load,
    run_output,
)
from tests.signals.factories import at, login, usage
from tests.topics import payloads
from topics.catalogue import INPUT_KINDS, TopicKind, topic_name
from topics.codec import encode
from topics.models import UserAlias, UserLink

PARTITIONS = 4
SETTINGS = Settings(clock="event", topic_partitions=PARTITIONS, state_cache_accounts=4)
CONFIG = load_config({"usage": {"core_features": list(CORE_FEATURES)}})
RULES = textbook_rules()  # they fire often on a few accounts and days: much to compare


def backlog(accounts: int, days: int, seed: int) -> list[tuple[TopicKind, bytes | None, bytes]]:
    """A realistic simulated history, and one closing event per partition after its end
    (what a demo sends) so every partition's clock passes the last day."""
    config = SimulationConfig(accounts=accounts, days=days, seed=seed, preset="realistic")
    records: list[tuple[TopicKind, bytes | None, bytes]] = [
        (r.kind, r.key, r.value) for r in Simulation(config).records()
    ]
    return records + closing_at(config.start + timedelta(days=days + 2))


def scrambled(
    records: list[tuple[TopicKind, bytes | None, bytes]],
) -> list[tuple[TopicKind, bytes | None, bytes]]:
    """Some producers send without a key, others key by something else: those events
    must take the re-keying detour to their account's partition."""
    out: list[tuple[TopicKind, bytes | None, bytes]] = []
    for i, (kind, key, value) in enumerate(records):
        sent = key
        if kind in (TopicKind.USAGE, TopicKind.TICKETS, TopicKind.BILLING) and key:
            if i % 7 == 0:
                sent = None
            elif i % 11 == 0:
                sent = b"crm-" + key
        out.append((kind, sent, value))
    return out


@pytest.fixture(scope="module")
def records() -> list[tuple[TopicKind, bytes | None, bytes]]:
    return scrambled(backlog(accounts=16, days=35, seed=5))


def unread(broker: MemoryBroker) -> int:
    """Input messages not yet committed by any worker."""
    prefix = SETTINGS.topic_prefix
    return sum(
        len(broker.log(topic_name(kind, prefix), p))
        - broker.committed.get((topic_name(kind, prefix), p), 0)
        for kind in INPUT_KINDS
        for p in range(PARTITIONS)
    )


def loaded(records: list[tuple[TopicKind, bytes | None, bytes]]) -> MemoryBroker:
    broker = MemoryBroker(PARTITIONS)
    load(broker, records, SETTINGS.topic_prefix)
    return broker


def check(broker: MemoryBroker, *, triggers: bool = True) -> VerifyReport:
    """``pulse verify`` over the in-memory broker (``triggers``: the replay fires some)."""
    prefix = SETTINGS.topic_prefix
    inputs = {kind: broker.values(topic_name(kind, prefix)) for kind in INPUT_KINDS}
    events, invalid = decode_inputs(inputs, SETTINGS.max_message_bytes, SETTINGS.stripe_options)
    report = verify(events, run_output(broker, SETTINGS), CONFIG, RULES, invalid_inputs=invalid)
    if triggers:
        assert report.expected_triggers > 0, "the replay fires nothing: nothing is compared"
    assert report.states_checked, "no state compared"
    return report


def worker(broker: MemoryBroker, owned: range | list[int], plan: Plan) -> MemoryWorker:
    return MemoryWorker(broker, SETTINGS, CONFIG, RULES, owned, plan=plan)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_one_worker_in_any_reading_order_gives_the_replay(
    records: list[tuple[TopicKind, bytes | None, bytes]], seed: int
) -> None:
    broker = loaded(records)
    await drain([worker(broker, range(PARTITIONS), Plan(seed=seed, batch=10 * seed))])
    report = check(broker)
    assert report.ok, report.summary()
    assert report.duplicates == 0, "no crash, no rebalance: every trigger delivered once"
    assert report.expected_cancellations, "a cancellation's record is compared too"


async def test_two_workers_and_a_rebalance_give_the_replay(
    records: list[tuple[TopicKind, bytes | None, bytes]],
) -> None:
    broker = loaded(records)
    one = worker(broker, [0, 1], Plan(seed=4))
    two = worker(broker, [2, 3], Plan(seed=5))
    workers = [one, two]
    for _ in range(15):  # part of the backlog, then partitions change hands
        for w in workers:
            await w.step()
    while not (one.commits.pending and two.commits.pending):  # batches not committed yet
        for w in workers:
            if not w.commits.pending:
                await w.step()
    assert unread(broker) > 1000, "the rebalance comes in the middle of the backlog"
    await one.rebalance([0, 2, 3])
    await two.rebalance([1])
    await drain(workers)
    report = check(broker)
    assert report.ok, report.summary()


@pytest.mark.parametrize("step", COMMIT_STEPS)
async def test_a_crash_before_any_commit_step_loses_and_invents_nothing(
    records: list[tuple[TopicKind, bytes | None, bytes]], step: str
) -> None:
    broker = loaded(records)
    plan = Plan(seed=6, crashes={5: step, 40: step, 90: step})
    workers = [worker(broker, range(PARTITIONS), plan)]
    await drain(workers)
    assert workers[0].crashes == 3, "every planned crash happened"
    report = check(broker)
    assert report.ok, report.summary()


def closing_at(when: datetime) -> list[tuple[TopicKind, bytes | None, bytes]]:
    """One event per partition at ``when`` (the demo's, engine.demo.clock_events): every
    partition's clock passes what came before."""
    return [(TopicKind.ACCOUNTS, key, value) for key, value in clock_events(when, PARTITIONS)]


@pytest.mark.parametrize("seed", range(6))
async def test_a_users_latest_link_by_event_time_wins_whichever_arrives_last(seed: int) -> None:
    """A user moved from one account to another: the move (day 2) is produced first, on
    the user's partition; the older link (day 1) comes keyed by its account, so it
    reaches user resolution before or after the move depending on the reading order.
    The user's later usage belongs to the account of the latest link by event time."""
    moved = UserLink(event_id="g-new", occurred_at=at(2), user_id="roamer", account_id="south")
    older = UserLink(event_id="g-old", occurred_at=at(1), user_id="roamer", account_id="north")
    records: list[tuple[TopicKind, bytes | None, bytes]] = [
        (TopicKind.USAGE, b"roamer", encode(moved)),
        (TopicKind.USAGE, b"north", encode(older)),
    ]
    for day in range(12):
        for account in ("north", "south"):
            home = login(at(day), user=f"{account}-user")
            records.append(
                (
                    TopicKind.USAGE,
                    account.encode(),
                    encode(home.model_copy(update={"account_id": account})),
                )
            )
        roaming = usage("Report Run", at(day + 3), user="roamer", account=None)
        records.append((TopicKind.USAGE, b"roamer", encode(roaming)))
    records += closing_at(at(20))
    broker = loaded(records)
    await drain([worker(broker, range(PARTITIONS), Plan(seed=seed, batch=5, run=2))])
    report = check(broker, triggers=False)
    assert report.ok, report.summary()


async def test_group_call_traits_reach_the_account_as_the_replay_applies_them() -> None:
    """A Segment group call, keyed by its user, links the user and sends the account's
    traits on to the account: the state the worker keeps is the replay's, with the
    owner and seats the traits named; a trait Pulse cannot use is counted as ignored."""
    group = {
        "type": "group",
        "messageId": "grp-1",
        "userId": "ann",
        "groupId": "initech",
        "timestamp": at(0).isoformat(),
        "traits": {"name": "Initech", "owner": "cara", "seats": "12", "segment": "startup"},
    }
    records: list[tuple[TopicKind, bytes | None, bytes]] = [
        (TopicKind.USAGE, b"ann", orjson.dumps(group))
    ]
    for day in range(10):
        ran = usage("Report Run", at(day), user="ann", account=None, eid=f"r{day}")
        records.append((TopicKind.USAGE, b"ann", encode(ran)))
    records += closing_at(at(14))
    broker = loaded(records)
    one = worker(broker, range(PARTITIONS), Plan(seed=1, batch=3))
    await drain([one])
    report = check(broker, triggers=False)
    assert report.ok, report.summary()

    states = run_output(broker, SETTINGS).states
    assert states is not None
    profile = states["initech"].profile
    assert {k: v[2] for k, v in profile.items()} == {
        "name": "Initech",
        "csm_owner": "cara",
        "seats": 12,
    }
    ignored = one.metric("pulse_ignored_events_total", topic="usage", type="segment:traits.segment")
    assert ignored == 1


def _stripe(event: dict[str, Any], eid: str, day: float) -> dict[str, Any]:
    return event | {"id": eid, "created": int(at(day).timestamp()), "livemode": True}


@pytest.mark.parametrize("seed", range(4))
async def test_customer_only_stripe_events_resolve_through_a_learned_link(seed: int) -> None:
    """Invoices of a Stripe customer without account metadata, keyed by the customer as
    the bridge keys them: the first waits (parked by the users agent) until a subscription
    event names both customer and account; the next resolves at once; a customer never
    linked is dead-lettered as ``unresolved_customer``. All as the replay resolves them."""
    linked = payloads.stripe_subscription(
        "customer.subscription.created", customer="cus_9", metadata={"account_id": "initech"}
    )
    records: list[tuple[TopicKind, bytes | None, bytes]] = [
        (
            TopicKind.BILLING,
            b"cus_9",
            _raw(
                payloads.stripe_invoice("invoice.payment_failed", parent=None, customer="cus_9"),
                "e1",
                1,
            ),
        ),
        (TopicKind.BILLING, b"initech", _raw(linked, "e2", 1.4)),
        (
            TopicKind.BILLING,
            b"cus_9",
            _raw(
                payloads.stripe_invoice(
                    "invoice.payment_failed", parent=None, customer="cus_9", id="in_2"
                ),
                "e3",
                5,
            ),
        ),
        (
            TopicKind.BILLING,
            b"cus_0",
            _raw(payloads.stripe_invoice(parent=None, customer="cus_0", id="in_0"), "e4", 1),
        ),
    ]
    for day in range(8):
        ran = usage("Report Run", at(day), user="ann", account="initech", eid=f"r{day}")
        records.append((TopicKind.USAGE, b"initech", encode(ran)))
    records += closing_at(at(12))
    broker = loaded(records)
    await drain([worker(broker, range(PARTITIONS), Plan(seed=seed, batch=1 + seed))])
    report = check(broker, triggers=False)
    assert report.ok, report.summary()

    output = run_output(broker, SETTINGS)
    assert output.states is not None
    assert sorted(output.states["initech"].payments) == ["in_1Pr", "in_2"]
    letters = [(d.error_kind, d.original_key) for d in output.dead_letters]
    assert letters == [("unresolved_customer", b"billing-customer:cus_0")]


def _raw(event: dict[str, Any], eid: str, day: float) -> bytes:
    return orjson.dumps(_stripe(event, eid, day))


@pytest.mark.parametrize(("seed", "alias_first"), [(0, False), (1, False), (2, True), (3, True)])
async def test_an_aliased_id_gets_its_users_account_as_the_replay_gives_it(
    seed: int, alias_first: bool
) -> None:
    """Segment alias calls: an anonymous id's usage, keyed by that id, belongs to the
    account the user it is an alias of had at the alias, through a link the users agent
    sends from the user's partition to the id's (``ann`` and ``anon-3`` are on different
    partitions); the user's later move leaves it."""
    ann = UserLink(event_id="g-1", occurred_at=at(0), user_id="ann", account_id="north")
    moved = UserLink(event_id="g-2", occurred_at=at(6), user_id="ann", account_id="south")
    alias = UserAlias(event_id="al-1", occurred_at=at(1), user_id="anon-3", alias_of="ann")
    if alias_first:  # the alias waits for the user's link (a day later)
        ann = ann.model_copy(update={"occurred_at": at(2)})
    first, second = (alias, ann) if alias_first else (ann, alias)
    records: list[tuple[TopicKind, bytes | None, bytes]] = [
        (TopicKind.USAGE, b"ann", encode(first)),
        (TopicKind.USAGE, b"ann", encode(second)),
        (TopicKind.USAGE, b"ann", encode(moved)),
    ]
    for day in range(10):
        anon = usage("Signed In", at(day + 2), user="anon-3", account=None, eid=f"a{day}")
        records.append((TopicKind.USAGE, b"anon-3", encode(anon)))
        for account in ("north", "south"):
            home = login(at(day), user=f"{account}-user", eid=f"{account}{day}")
            records.append(
                (
                    TopicKind.USAGE,
                    account.encode(),
                    encode(home.model_copy(update={"account_id": account})),
                )
            )
    records += closing_at(at(16))
    broker = loaded(records)
    await drain([worker(broker, range(PARTITIONS), Plan(seed=seed, batch=4, run=2))])
    report = check(broker, triggers=False)
    assert report.ok, report.summary()

    states = run_output(broker, SETTINGS).states
    assert states is not None
    logins = {a: sum(b.counts[0] for b in states[a].buckets.values()) for a in ("north", "south")}
    assert logins == {"north": 10 + 10, "south": 10}  # the alias took north, once
