"""State format 3: the first event's time and the open churn-risk episode survive a
round trip; state written by format 2 (before them) still loads and goes on working."""

from __future__ import annotations

import orjson

from signals.config import SignalsConfig, UsageMapping
from signals.core import SignalProcessor
from signals.ingest import AccountEvent
from signals.state import FORMAT_VERSION, AccountState, micros
from tests.signals.factories import ACCOUNT, at, billing, login, subscription, usage
from topics.models import TriggerFeedback

CONFIG = SignalsConfig(usage=UsageMapping(core_features=("Report Exported",)))

FORMAT_2 = (
    b'{"a":"acme","b":[[739895,[1,1],"AQ==",0],[739896,[0,1,1],"AQ==",1]],'
    b'"bi":{"mrr":[1791201600000000,16027976456189790694,1000.0],'
    b'"seats_purchased":[1791201600000000,16027976456189790694,5],'
    b'"status":[1791201600000000,16027976456189790694,"active"]},"c":{},'
    b'"d":[[739894,"5kmEww=="],[739895,"St9DZw=="],[739896,"D6OMxQ=="],[739897,"KH7xjw=="]],'
    b'"f":[["8862aa85f34eb23cbf69fa0eeefa4e40","health_red",1,1791288000000000,'
    b'"since:2026-10-06T12:00:00+00:00"],["99b548d295055082470fdeb77c78d481",'
    b'"payment_failed",1,1791460800000000,"event:pf"]],"fd":[2898024750],'
    b'"h":[739894,[100.0,11.11,55.56,50.0,49.81]],"k":1791547200000000,'
    b'"l":[1791288000000000,-1,739898],"n":{},"o":[],"p":{"in1":[-1,1791460800000000]},'
    b'"pr":{},"q":[],"r":{"health_red":[0,1791288000000000,1791288000000000],'
    b'"payment_failed":[1,1791460800000000,-1]},"s":11156849925,"t":{},"u":"dp9PQg==",'
    b'"v":2,"z":{}}'
)
"""Written by format 2 (the commit before format 3) after a subscription on day 0 (``s``),
a login (``x``) on day 1, a core feature (``y``) on day 2 and a payment failure (``pf``,
invoice ``in1``) on day 3, and a tick on day 4 (its rule memory trimmed to two rules)."""


def _events() -> list[AccountEvent]:
    return [
        subscription(at(0), eid="s", seats=5),
        login(at(1), eid="x"),
        usage("Report Exported", at(2), eid="y"),
        billing("payment_failed", at(3), eid="pf", invoice_id="in1"),
    ]


def test_format_4_round_trips_the_journal_and_feedback_and_reads_format_3() -> None:
    processor = SignalProcessor(CONFIG)
    state = AccountState(ACCOUNT)
    for event in _events():
        processor.apply(state, event, now=event.occurred_at)
    fired = processor.tick(state, at(10)).triggers
    feedback = TriggerFeedback(
        command_id="c1",
        occurred_at=at(11),
        account_id=ACCOUNT,
        author="csm@example.com",
        trigger_id=fired[0].trigger_id,
        verdict="play_started",
    )
    processor.apply(state, feedback, now=at(11))
    data = state.to_bytes()
    restored = AccountState.from_bytes(data)
    assert restored.feedback == state.feedback != {}
    assert restored.journal == state.journal != []
    older = orjson.loads(data)
    del older["j"], older["fb"]
    older["v"] = 3
    read = AccountState.from_bytes(orjson.dumps(older))
    assert (read.journal, read.feedback) == ([], {})


def test_format_3_round_trips_the_first_event_and_the_open_episode() -> None:
    processor = SignalProcessor(CONFIG)
    state = AccountState(ACCOUNT)
    for event in _events():
        processor.apply(state, event, now=event.occurred_at)
    processor.tick(state, at(10))  # payment_failed fires: the churn-risk episode is open
    assert (state.first_us, state.episode_us) == (micros(at(0)), micros(at(10)))
    assert state.episode_rank == 1  # medium
    data = state.to_bytes()
    assert orjson.loads(data)["v"] == FORMAT_VERSION == 4
    restored = AccountState.from_bytes(data)
    assert restored == state
    assert (restored.first_us, restored.episode_us, restored.episode_rank) == (
        state.first_us,
        state.episode_us,
        state.episode_rank,
    )
    assert restored.to_bytes() == data


def test_format_2_bytes_load_with_the_oldest_day_as_the_first_event() -> None:
    state = AccountState.from_bytes(FORMAT_2)
    assert state.first_us == micros(at(1, 0))  # the oldest retained day of usage, at midnight
    assert (state.episode_us, state.episode_rank) == (-1, -1)  # no episode was kept
    assert state.last_login_us == micros(at(1))
    assert state.fact(state.billing, "seats_purchased") == 5
    assert [entry[1] for entry in state.fired] == ["health_red", "payment_failed"]
    assert orjson.loads(state.to_bytes())["v"] == FORMAT_VERSION


def test_format_2_state_goes_on_under_the_new_rules_and_is_written_as_format_3() -> None:
    state = AccountState.from_bytes(FORMAT_2)
    processor = SignalProcessor(CONFIG)
    duplicate = processor.apply(state, login(at(1), eid="x"), now=at(4, 13))
    assert [r.kind for r in duplicate.rejections] == ["duplicate"]
    fired = [t.rule_id for t in processor.tick(state, at(10)).triggers]
    assert fired == ["payment_failed"]  # unresolved for a week
    again = AccountState.from_bytes(state.to_bytes())
    assert again == state
    assert again.first_us == micros(at(1, 0))
