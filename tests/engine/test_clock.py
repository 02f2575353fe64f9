"""The event clock's decisions without a broker: stubs for what the broker reported
and the monotonic time driven by hand (as Kafka Streams tests PartitionGroup)."""

from __future__ import annotations

from engine.runtime.clock import (
    ANNOUNCE_SECONDS,
    CLOCK_NUDGE_SECONDS,
    IDLE_SECONDS,
    Announcer,
    Heard,
    Mark,
    confirm,
    holding_back,
)


def test_a_topic_is_behind_while_the_broker_holds_offsets_not_processed() -> None:
    mark = Mark()
    assert not mark.behind(highwater=None, committed=None)
    assert mark.behind(highwater=3, committed=None)
    mark.read(offset=2, occurred_us=100)
    assert not mark.behind(highwater=3, committed=None)
    assert mark.watermark == 100


def test_what_an_earlier_run_committed_counts_as_processed() -> None:
    mark = Mark()
    assert not mark.behind(highwater=10, committed=10)
    assert mark.behind(highwater=10, committed=9)


def test_the_end_the_broker_reported_counts_when_the_fetch_knows_none() -> None:
    mark = Mark(end=5)
    assert mark.behind(highwater=None, committed=None)
    mark.read(offset=4, occurred_us=None)
    assert not mark.behind(highwater=None, committed=None)
    assert mark.watermark == -1


def test_the_clock_is_the_lowest_watermark_of_the_topics_behind() -> None:
    marks = {"usage": Mark(watermark=500), "tickets": Mark(watermark=300)}
    low, ask = holding_back(marks, {"usage", "tickets"}, now=0.0)
    assert (low, ask) == (300, [])


def test_a_caught_up_topic_holds_the_clock_for_its_idle_allowance_then_asks() -> None:
    marks = {"usage": Mark(watermark=500), "tickets": Mark(watermark=300)}
    assert holding_back(marks, {"usage"}, now=10.0) == (300, [])
    assert holding_back(marks, {"usage"}, now=10.0 + IDLE_SECONDS - 0.01) == (300, [])
    low, ask = holding_back(marks, {"usage"}, now=10.0 + IDLE_SECONDS)
    assert (low, ask) == (500, ["tickets"])
    # asked a moment ago: not again until IDLE_SECONDS pass, and it does not hold
    assert holding_back(marks, {"usage"}, now=10.0 + IDLE_SECONDS + 1) == (500, [])
    assert holding_back(marks, {"usage"}, now=10.0 + 2 * IDLE_SECONDS)[1] == ["tickets"]


def test_a_caught_up_topic_at_or_past_the_frontier_never_holds() -> None:
    marks = {"usage": Mark(watermark=500), "tickets": Mark(watermark=700)}
    assert holding_back(marks, {"usage"}, now=0.0) == (500, [])
    assert marks["tickets"].empty_since is None


def test_the_broker_s_answer_decides_whether_a_quiet_topic_holds() -> None:
    mark = Mark(processed=9)
    assert not confirm(mark, end=10, committed=None, highwater=None)
    assert confirm(mark, end=12, committed=None, highwater=None)
    assert mark.empty_since is None
    assert confirm(Mark(), end=None, committed=None, highwater=None), "unknown: hold"


def test_a_reader_waits_for_every_sender_and_skips_idle_ones() -> None:
    heard = Heard()
    senders = ["accounts:0", "accounts:1"]
    assert heard.bound(senders, now=0.0) == -1
    heard.hear("accounts:0", 400, idle=False, now=0.0)
    assert heard.bound(senders, now=0.0) == -1
    heard.hear("accounts:1", 200, idle=True, now=0.0)
    assert heard.bound(senders, now=1.0) == 200
    assert heard.bound(senders, now=IDLE_SECONDS) == 400
    heard.hear("accounts:1", 250, idle=True, now=IDLE_SECONDS + 5)  # idle since 0.0
    assert heard.bound(senders, now=IDLE_SECONDS + 5) == 400
    heard.hear("accounts:0", 450, idle=True, now=0.0)
    assert heard.bound(senders, now=IDLE_SECONDS) is None
    assert heard.highest() == 450


def test_announcements_are_throttled_with_a_heartbeat_and_wake_at_once() -> None:
    announcer = Announcer()
    assert announcer.due(100, idle=False, now=0.0)
    assert not announcer.due(100, idle=False, now=0.1)
    assert not announcer.due(200, idle=False, now=ANNOUNCE_SECONDS - 0.01)
    assert announcer.due(200, idle=False, now=ANNOUNCE_SECONDS)
    assert not announcer.due(200, idle=False, now=ANNOUNCE_SECONDS + 0.1)
    assert announcer.due(200, idle=False, now=ANNOUNCE_SECONDS + CLOCK_NUDGE_SECONDS)
    assert announcer.due(200, idle=True, now=ANNOUNCE_SECONDS * 4)
    assert announcer.due(300, idle=False, now=ANNOUNCE_SECONDS * 4 + 0.01), "woke: at once"
