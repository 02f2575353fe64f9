"""The verifier on hand-made runs: it passes a faithful run and fails each kind of fault."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.envelope import Published, pack
from engine.settings import Settings
from engine.verify import (
    RunOutput,
    VerifyReport,
    changelog_topic,
    event_clock_config,
    held_ids,
    verify,
)
from engine.worker import PulseWorker
from signals.config import SignalsConfig, load_config
from signals.replay import replay
from signals.rules import default_rules
from signals.state import AccountState, event_hash, fingerprint
from tests.signals.factories import at, billing, login, nps, subscription, ticket, usage
from topics.catalogue import TopicKind
from topics.codec import dead_letter, encode
from topics.models import InputEvent

EVENTS: list[tuple[str, InputEvent]] = [
    ("billing", subscription(at(-5, 0), seats=10, eid="sub")),
    # a week unpaid at the tick of day 2: the first churn-risk trigger
    ("billing", billing("payment_failed", at(-5, 0), eid="pay-1", invoice_id="in1")),
    ("usage", login(at(0, 9), eid="login-1")),
    ("usage", login(at(1, 9), user="u2", eid="login-2")),
    ("feedback", nps(2, at(1, 15), respondent="r1", eid="nps-1")),
    ("usage", usage("Signed In", at(2), account="beta", eid="beta-1")),
    ("tickets", ticket("opened", at(2, 11), "t0", priority="urgent", eid="ticket-0")),
    ("tickets", ticket("opened", at(2, 12), "t1", priority="high", eid="ticket-01")),
    # three urgent tickets in a first week: a spike only once the account has a history
    ("tickets", ticket("opened", at(2, 13), "t2", priority="urgent", eid="ticket-1")),
    # a higher severity than the payment's: a second alert in the same conversation
    ("billing", billing("subscription_updated", at(2, 14), eid="cancel-1", cancel_at=at(30))),
    ("usage", usage("Signed In", at(3, 1), account="beta", user="b2", eid="beta-2")),
]


@pytest.fixture
def config() -> SignalsConfig:
    """The defaults, with a lateness bound that holds the ids of all of EVENTS' eight
    days (the payment is a week unpaid before the rest happens)."""
    return load_config().model_copy(update={"lateness_bound": timedelta(days=14)})


def faithful(events: list[tuple[str, InputEvent]], config: SignalsConfig) -> RunOutput:
    """What a worker that lost nothing leaves: the replay's triggers, states and history."""
    until = max(event.occurred_at for _, event in events)
    result = replay(events, event_clock_config(config), default_rules(), until=until)
    states = {a: AccountState.from_bytes(s.to_bytes()) for a, s in result.states.items()}
    stamp = datetime(2027, 1, 1, tzinfo=UTC)
    return RunOutput(
        triggers=[t.model_copy(update={"emitted_at": stamp}) for t in result.triggers],
        health=[t.health for t in result.triggers if t.health is not None],
        states=states,
        held={account: held_ids(state) for account, state in states.items()},
    )


def check(run: RunOutput, config: SignalsConfig, **kwargs: object) -> VerifyReport:
    return verify(EVENTS, run, config, default_rules(), **kwargs)  # type: ignore[arg-type]


def test_a_faithful_run_passes_with_every_figure_zero(config: SignalsConfig) -> None:
    report = check(faithful(EVENTS, config), config)

    assert report.ok, report.summary()
    assert report.expected_triggers == report.distinct_triggers == 2
    assert (report.missed, report.invented, report.altered) == ((), (), ())
    assert (report.events_lost, report.events_checked) == (0, len(EVENTS))
    assert (report.states_checked, report.state_mismatches) == (2, {})
    assert report.duplicates == 0
    assert report.summary().startswith("verify: OK")


def test_duplicate_deliveries_are_counted_and_allowed(config: SignalsConfig) -> None:
    run = faithful(EVENTS, config)
    run.triggers += [run.triggers[0], run.triggers[0], run.triggers[1]]

    report = check(run, config)

    assert report.ok, report.summary()
    assert (report.duplicates, report.duplicated_ids, report.deliveries) == (3, 2, 5)
    assert "duplicate deliveries 3 (of 2 ids)" in report.summary()


def test_a_missed_trigger_fails(config: SignalsConfig) -> None:
    run = faithful(EVENTS, config)
    gone = run.triggers.pop()

    report = check(run, config)

    assert not report.ok
    assert report.missed == (gone.trigger_id,)
    assert gone.trigger_id in report.summary()
    assert report.summary().startswith("verify: FAILED")


def test_an_invented_trigger_fails(config: SignalsConfig) -> None:
    run = faithful(EVENTS, config)
    run.triggers.append(run.triggers[0].model_copy(update={"trigger_id": "made-up"}))

    report = check(run, config)

    assert not report.ok
    assert report.invented == ("made-up",)


def test_a_trigger_with_the_right_id_and_other_content_fails(config: SignalsConfig) -> None:
    run = faithful(EVENTS, config)
    first = run.triggers[0]
    run.triggers[0] = first.model_copy(update={"fired_at": at(5)})

    report = check(run, config)

    assert not report.ok
    assert report.altered == (first.trigger_id,)
    assert (report.missed, report.invented) == ((), ())


def test_an_event_no_state_ever_held_is_lost(config: SignalsConfig) -> None:
    """A run that never applied the urgent ticket: its id is in no saved state, and the
    final state differs, even though no trigger depends on it."""
    without = [(topic, e) for topic, e in EVENTS if e.event_id != "ticket-1"]
    run = faithful(without, config)

    report = check(run, config)

    assert not report.ok
    assert report.events_lost == 1
    assert report.lost_examples == ("acme/ticket-1",)
    assert set(report.state_mismatches) == {"acme"}
    assert "t" in report.state_mismatches["acme"]  # the tickets


def test_events_no_saved_state_spans_are_unchecked_not_lost(config: SignalsConfig) -> None:
    """A state keeps ids for the lateness bound behind its clock, and a worker saves it
    once per commit window: with a one-day bound and only final states saved, the
    earliest events are beyond what any saved state could show (unchecked), while a
    missing event of a day the states do span is still lost."""
    short = config.model_copy(update={"lateness_bound": timedelta(days=1)})
    good = faithful(EVENTS, short)
    assert good.states is not None
    changelog = [pack(Published(), state) for state in good.states.values()]

    report = check(RunOutput.decode({}, changelog), short)

    early = [e for _, e in EVENTS if e.occurred_at.date() < at(2).date()]  # pruned on day 3
    assert good.held is not None
    assert not any(fingerprint(event_hash(e.event_id)) in good.held["acme"] for e in early)
    assert (report.events_lost, report.events_unchecked) == (0, len(early))
    assert report.events_checked == len(EVENTS) - len(early)
    assert f"; {len(early)} unchecked (no saved state kept their day" in report.summary()
    assert check(RunOutput.decode({}, changelog), config).events_unchecked == 0

    without = faithful([(t, e) for t, e in EVENTS if e.event_id != "ticket-1"], short)
    assert without.states is not None
    changelog = [pack(Published(), state) for state in without.states.values()]
    report = check(RunOutput.decode({}, changelog), short)
    assert report.lost_examples == ("acme/ticket-1",)


def test_a_state_rolled_back_after_holding_an_event_fails(config: SignalsConfig) -> None:
    """The history held every event, but the final state lacks one (a lost write)."""
    run = faithful(EVENTS, config)
    behind = faithful([(t, e) for t, e in EVENTS if e.event_id != "beta-2"], config)
    assert run.states is not None
    assert behind.states is not None
    run.states["beta"] = behind.states["beta"]

    report = check(run, config)

    assert not report.ok
    assert report.events_lost == 0
    assert set(report.state_mismatches) == {"beta"}


def test_an_event_held_twice_after_a_redelivery_is_no_difference(
    config: SignalsConfig,
) -> None:
    """At-least-once: an event read again while its first copy still waits in the reorder
    window is held twice (and dropped as a duplicate on release); a held event that
    vanished is a difference."""
    run = faithful(EVENTS, config)
    assert run.states is not None
    beta = run.states["beta"]
    assert [entry[1] for entry in beta.pending] == ["beta-2"]  # the clock stops at it
    beta.pending.append(list(beta.pending[0]))
    assert check(run, config).ok

    beta.pending.clear()
    report = check(run, config)
    assert report.state_mismatches == {"beta": ("q",)}


def test_a_missing_state_and_an_unknown_account_fail(config: SignalsConfig) -> None:
    run = faithful(EVENTS, config)
    assert run.states is not None
    run.states["ghost"] = run.states.pop("beta")

    report = check(run, config)

    assert report.state_mismatches == {"beta": ("missing",)}
    assert report.unknown_accounts == ("ghost",)


def test_without_history_or_states_only_triggers_are_judged(config: SignalsConfig) -> None:
    run = faithful(EVENTS, config)
    run.states, run.held = None, None

    report = check(run, config)

    assert report.ok
    assert (report.events_lost, report.states_checked) == (None, None)
    assert "events lost         not counted" in report.summary()


def test_a_compacted_changelog_leaves_lost_events_uncounted_but_states_judged(
    config: SignalsConfig,
) -> None:
    """Compaction keeps only each account's latest state, so which events earlier states
    held can no longer be told: a long run must not read that as events lost."""
    good = faithful(EVENTS, config)
    assert good.states is not None
    messages = {TopicKind.CHURN_RISK: [encode(t) for t in good.triggers]}
    messages[TopicKind.HEALTH] = [encode(h) for h in good.health]
    changelog = [pack(Published(), state) for state in good.states.values()]
    for state in good.states.values():
        state.dedup.clear()  # the ids are gone from what is left on the changelog
    emptied = [pack(Published(), state) for state in good.states.values()]

    assert check(RunOutput.decode(messages, emptied), config).events_lost

    report = check(RunOutput.decode(messages, emptied, compacted=40), config)
    assert report.events_lost is None
    assert "compaction removed 40 changelog records" in report.summary()
    assert report.state_mismatches  # the final states are still compared
    assert check(RunOutput.decode(messages, changelog, compacted=40), config).ok


def letter(kind: str, offset: int) -> bytes:
    return encode(
        dead_letter(
            b"{}",
            None,
            topic="p.usage",
            partition=0,
            offset=offset,
            error_kind=kind,
            error_message="bad",
            received_at=datetime(2027, 1, 1, tzinfo=UTC),
        )
    )


def test_outputs_decode_from_bytes_and_dead_letters_are_judged(config: SignalsConfig) -> None:
    """From the bytes on the topics: invalid input dead-lettered (twice is fine, once each
    counts), a worker error fails, and a trigger on the wrong topic is undecodable."""
    good = faithful(EVENTS, config)
    assert good.states is not None
    churn = [encode(t) for t in good.triggers]
    messages = {
        TopicKind.CHURN_RISK: churn,
        TopicKind.EXPANSION: [churn[0]],  # a churn-risk trigger on the expansion topic
        TopicKind.HEALTH: [encode(h) for h in good.health],
        TopicKind.DEAD_LETTER: [letter("validation", 7), letter("validation", 7)],
    }
    changelog = [pack(Published(), state) for state in good.states.values()]

    report = check(RunOutput.decode(messages, changelog), config, invalid_inputs=1)
    assert report.undecodable_outputs == 1
    assert report.dead_lettered_invalid == 1
    assert (report.missed, report.state_mismatches, report.events_lost) == ((), {}, 0)
    assert not report.ok

    del messages[TopicKind.EXPANSION]
    assert check(RunOutput.decode(messages, changelog), config, invalid_inputs=1).ok
    assert not check(RunOutput.decode(messages, changelog), config, invalid_inputs=2).ok

    messages[TopicKind.DEAD_LETTER].append(letter("internal", 9))
    report = check(RunOutput.decode(messages, changelog), config, invalid_inputs=1)
    assert not report.ok
    assert report.worker_errors == 1
    assert report.dead_letters == {"internal": 1, "validation": 2}


def test_a_view_behind_the_latest_health_is_stale(config: SignalsConfig) -> None:
    run = faithful(EVENTS, config)
    latest = {h.account_id: h for h in run.health}
    run.views = {account: {"health": h.model_dump(mode="json")} for account, h in latest.items()}
    assert check(run, config).ok

    first = run.health[0].model_dump(mode="json")
    run.health.append(run.health[0].model_copy(update={"score": 1.0, "as_of": at(3)}))
    run.views["acme"] = {"health": first}
    report = check(run, config)
    assert not report.ok
    assert report.stale_views == ("acme",)


def test_the_changelog_name_is_the_workers(tmp_path: Path) -> None:
    settings = Settings(app_id="pulse-verify-name", store="memory://", data_dir=tmp_path)
    worker = PulseWorker(settings)
    assert worker.states.changelog_topic.get_topic_name() == changelog_topic(settings.app_id)


def test_cancellation_records_are_held_to_the_replay_like_triggers(config: SignalsConfig) -> None:
    events = [*EVENTS, ("billing", billing("subscription_cancelled", at(2, 20), eid="end-1"))]
    until = max(event.occurred_at for _, event in events)
    replayed = replay(events, event_clock_config(config), default_rules(), until=until)
    (record,) = replayed.cancellations
    stamp = datetime(2027, 1, 1, tzinfo=UTC)
    sent = record.model_copy(update={"emitted_at": stamp})

    def judged(cancellations: list) -> VerifyReport:  # type: ignore[type-arg]
        run = faithful(events, config)
        run.cancellations = cancellations
        return verify(events, run, config, default_rules())

    faithful_run = judged([sent, sent])
    assert faithful_run.ok, faithful_run.summary()
    assert (faithful_run.expected_cancellations, faithful_run.cancellation_duplicates) == (1, 1)
    missed = judged([])
    assert not missed.ok
    assert missed.cancellations_missed == (record.cancellation_id,)
    altered = judged([sent.model_copy(update={"mrr": 1.0})])
    assert not altered.ok
    assert altered.cancellations_altered == (record.cancellation_id,)
    invented = judged([sent, sent.model_copy(update={"cancellation_id": "made-up"})])
    assert invented.cancellations_invented == ("made-up",)
    assert "1 expected, 0 missed, 1 invented (made-up), 0 altered" in invented.summary()
