"""`pulse replay` as a user runs it: files in, triggers and a summary out."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from engine.simulator import CORE_FEATURES
from tests.topics.payloads import stripe_invoice

SIGNALS_CONFIG = "usage:\n  core_features: [" + ", ".join(CORE_FEATURES) + "]\n"


def pulse(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *map(str, args)],
        cwd=cwd,
        env=None if env is None else {**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def quarter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated quarter of 300 accounts: over 100,000 events with faults mixed in."""
    folder = tmp_path_factory.mktemp("quarter")
    (folder / "signals.yaml").write_text(SIGNALS_CONFIG)
    made = pulse(
        "simulate",
        "--accounts",
        "300",
        "--out",
        "events.jsonl",
        "--truth",
        "truth.json",
        cwd=folder,
    )
    assert made.returncode == 0, made.stderr
    return folder


def test_large_replay_is_byte_identical_across_runs_and_processes(quarter: Path) -> None:
    lines = (quarter / "events.jsonl").read_bytes().count(b"\n")
    assert lines >= 100_000

    first = pulse(
        "replay",
        "events.jsonl",
        "--config",
        "signals.yaml",
        "--out",
        "a.jsonl",
        "--outcomes",
        "a.outcomes.jsonl",
        cwd=quarter,
    )
    # and with the accounts split over processes: the same bytes, the same summary
    second = pulse(
        "replay",
        "events.jsonl",
        "--config",
        "signals.yaml",
        "--out",
        "b.jsonl",
        "--outcomes",
        "b.outcomes.jsonl",
        "--processes",
        "3",
        cwd=quarter,
    )

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    output = (quarter / "a.jsonl").read_bytes()
    assert output == (quarter / "b.jsonl").read_bytes()
    triggers = [orjson.loads(line) for line in output.splitlines()]
    assert len(triggers) > 100
    assert len({t["trigger_id"] for t in triggers}) == len(triggers)
    assert {t["kind"] for t in triggers} == {"churn_risk", "expansion", "advocacy"}
    assert all(t["emitted_at"] is None for t in triggers)
    assert "replaying" in first.stderr  # progress on stderr
    assert "in 3 processes" in second.stderr
    assert second.stdout.replace("b.jsonl", "a.jsonl") == first.stdout
    # one cancellation record per account the truth says cancelled (a few cancellations
    # are among the simulator's malformed or late messages, and never seen)
    records = (quarter / "a.outcomes.jsonl").read_bytes()
    assert records == (quarter / "b.outcomes.jsonl").read_bytes()
    ended = [orjson.loads(line) for line in records.splitlines()]
    truth = orjson.loads((quarter / "truth.json").read_bytes())["accounts"]
    cancelled = {a for a, facts in truth.items() if facts["cancelled_at"] is not None}
    assert {r["type"] for r in ended} == {"cancellation"}
    assert len({r["cancellation_id"] for r in ended}) == len(ended)
    assert {r["account_id"] for r in ended} <= cancelled
    assert len(ended) >= 0.9 * len(cancelled) > 10
    assert f"cancellations: {len(ended):,} (" in first.stdout
    assert "--outcomes F writes the records" not in first.stdout  # it was given
    summary = first.stdout
    assert f"wrote {len(triggers):,} triggers" in summary
    assert "final health bands:" in summary
    assert "duplicate" in summary  # the simulator's duplicates are reported, not dead
    assert "invalid" in summary  # and its malformed messages, with the field


def test_input_order_does_not_matter(tmp_path: Path) -> None:
    events = [
        {
            "topic": "billing",
            "value": {
                "type": "billing",
                "event_id": "b1",
                "occurred_at": "2026-10-01T00:00:00Z",
                "account_id": "acme",
                "action": "payment_failed",
                "invoice_id": "in_1",
                "amount": 120.0,
            },
        },
        {
            "topic": "feedback",
            "value": {
                "type": "nps",
                "event_id": "n1",
                "occurred_at": "2026-10-02T10:00:00Z",
                "account_id": "acme",
                "respondent_id": "r1",
                "score": 2,
            },
        },
        {
            "topic": "feedback",
            "value": {
                "type": "nps",
                "event_id": "n2",
                "occurred_at": "2026-10-03T10:00:00Z",
                "account_id": "globex",
                "respondent_id": "r9",
                "score": 10,
            },
        },
        {
            "topic": "feedback",
            "value": {
                "type": "nps",
                "event_id": "n0",
                "occurred_at": "2026-10-01T10:00:00Z",
                "account_id": "globex",
                "respondent_id": "r8",
                "score": 8,
            },
        },
        *(
            {
                "topic": "usage",
                "value": {
                    "type": "track",
                    "event_id": f"u{day}",
                    "occurred_at": f"2026-10-0{day}T11:00:00Z",
                    "account_id": "acme",
                    "user_id": "ann",
                    "name": "Signed In",
                },
            }
            for day in (2, 5, 9)
        ),
    ]
    shuffled = events[:]
    random.Random(3).shuffle(shuffled)
    (tmp_path / "ordered.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    (tmp_path / "shuffled.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in shuffled))

    one = pulse("replay", "ordered.jsonl", "--out", "one.jsonl", cwd=tmp_path)
    two = pulse("replay", "shuffled.jsonl", "--out", "two.jsonl", cwd=tmp_path)

    assert one.returncode == two.returncode == 0
    output = (tmp_path / "one.jsonl").read_bytes()
    assert output == (tmp_path / "two.jsonl").read_bytes()
    rules = {(t["account_id"], t["rule_id"]) for t in map(orjson.loads, output.splitlines())}
    # unpaid for a week; a promoter on globex's third day (its first day of data is not news)
    assert rules == {("acme", "payment_failed"), ("globex", "promoter")}


def test_bad_lines_are_counted_with_reasons_and_the_rest_replayed(tmp_path: Path) -> None:
    good = {
        "topic": "feedback",
        "value": {
            "type": "nps",
            "event_id": "n1",
            "occurred_at": "2026-10-02T10:00:00Z",
            "account_id": "acme",
            "respondent_id": "r1",
            "score": 10,
        },
    }
    day_before = {  # the account's first day of data, which is never news
        "topic": "usage",
        "value": {
            "type": "track",
            "event_id": "u0",
            "occurred_at": "2026-10-01T10:00:00Z",
            "account_id": "acme",
            "user_id": "ann",
            "name": "Signed In",
        },
    }
    (tmp_path / "events.jsonl").write_bytes(
        b"not json\n"
        + orjson.dumps({"topic": "clicks", "value": {}})
        + b"\n"
        + orjson.dumps({"topic": "usage", "value": "{truncated"})
        + b"\n"
        + orjson.dumps({"topic": "tickets", "value": {"type": "ticket"}})
        + b"\n"
        + orjson.dumps(good)
        + b"\n"
        + orjson.dumps(day_before)
        + b"\n"
    )
    result = pulse("replay", "events.jsonl", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert [orjson.loads(line)["rule_id"] for line in result.stdout.splitlines()] == ["promoter"]
    assert "rejected: 4" in result.stderr
    assert "bad line                           2  line 1: <line>: not JSON" in result.stderr
    assert "'clicks' is not one of usage, tickets, billing, feedback, accounts" not in (
        result.stderr
    )  # only the first example of a reason is shown
    assert "invalid <message>                  1  line 3" in result.stderr
    assert "line 4: event_id: Field required" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("missing.jsonl",), "pulse replay: error: cannot read missing.jsonl"),
        (("events.jsonl", "--rules", "rules.yaml"), "rules.yaml:3"),
        (("events.jsonl", "--config", "config.yaml"), "lateness_bound"),
    ],
)
def test_unusable_inputs_are_one_clear_error(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    (tmp_path / "events.jsonl").write_text("")
    (tmp_path / "rules.yaml").write_text("rules:\n  - id: x\n    version: zero\n")
    (tmp_path / "config.yaml").write_text("lateness_bound: yesterday\n")

    result = pulse("replay", *args, cwd=tmp_path)

    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_replay_reads_stripe_test_mode_as_the_worker_does(tmp_path: Path) -> None:
    """A test-mode Stripe event is ignored, and said so, unless the deployment accepts it.

    Replay reads PULSE_STRIPE_* exactly as the worker does: a backtest that counted
    events the live worker ignores would promise triggers that never come.
    """
    usage = {
        "type": "track",
        "event_id": "u0",
        "occurred_at": "2026-10-01T10:00:00Z",
        "account_id": "acme",
        "user_id": "ann",
        "name": "Signed In",
    }
    failed = stripe_invoice("invoice.payment_failed", amount_paid=0, attempt_count=1)
    failed["created"] = 1791201600  # 2026-10-05: the account has four days of history
    later = usage | {"event_id": "u1", "occurred_at": "2026-10-13T10:00:00Z"}
    (tmp_path / "events.jsonl").write_bytes(
        b"".join(
            orjson.dumps(line) + b"\n"
            for line in (
                {"topic": "usage", "value": usage},
                {"topic": "billing", "value": failed},
                {"topic": "usage", "value": later},  # eight days unpaid: the rule's 7 passed
            )
        )
    )

    default = pulse("replay", "events.jsonl", cwd=tmp_path)
    accepted = pulse(
        "replay", "events.jsonl", cwd=tmp_path, env={"PULSE_STRIPE_ACCEPT_TEST_MODE": "true"}
    )

    assert default.returncode == 0, default.stderr
    assert "ignored (deliberately unused, not rejected): 1" in default.stderr
    assert "rejected: 0 (none)" in default.stderr
    assert default.stdout == ""
    assert accepted.returncode == 0, accepted.stderr
    assert "ignored" not in accepted.stderr
    fired = [orjson.loads(line)["rule_id"] for line in accepted.stdout.splitlines()]
    assert "payment_failed" in fired


def _running(marker: str) -> list[int]:
    """Processes whose command line holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:  # ended meanwhile
                continue
    return found


def test_sigterm_stops_a_replay_with_its_processes_and_leaves_no_temporary_files(
    quarter: Path, tmp_path: Path
) -> None:
    """A replay stopped by `kill` (a container stopping, a CI timeout) cleans up as on
    Ctrl-C: its forked readers stop and its sort folder goes, instead of a gigabyte of
    sorted runs left in /tmp for every stopped backtest."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    out = tmp_path / "stopped-replay-triggers.jsonl"
    command = ["replay", "events.jsonl", "--out", str(out), "--config", "signals.yaml"]
    replay = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", *command, "--processes", "2"],
        cwd=quarter,
        env={**os.environ, "TMPDIR": str(scratch)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(scratch.glob("pulse-events-*/run-*")):  # sorting, in both processes
            assert replay.poll() is None, "the replay ended before it could be stopped"
            assert time.monotonic() < deadline, "no sorted run written within 60 s"
            time.sleep(0.05)
        assert len(_running(str(out))) == 2  # the replay and its forked reader

        replay.send_signal(signal.SIGTERM)
        _, stderr = replay.communicate(timeout=60)
    finally:
        replay.kill()

    assert replay.returncode == 128 + signal.SIGTERM
    assert "stopped by SIGTERM" in stderr
    assert list(scratch.iterdir()) == []
    deadline = time.monotonic() + 10
    while _running(str(out)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _running(str(out)) == []
