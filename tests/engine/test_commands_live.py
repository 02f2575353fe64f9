"""CSM commands end to end through the real broker: a snooze, an override and feedback given
with the `pulse` CLI reach the live worker, change what it publishes exactly as a replay of
events plus commands says, and show in the metrics and the account view."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from prometheus_client.parser import text_string_to_metric_families

from engine.demo import clock_events
from engine.signals_files import read_config, read_rules
from signals.replay import replay
from tests.conftest import WorkerProcess
from tests.engine.test_worker import (
    PARTITIONS,
    collect,
    describe,
    output_topics,
    produce,
    signals_config,  # noqa: F401 (a fixture)
    signals_env,
    simulated,
)
from topics.catalogue import TopicKind, topic_name
from topics.codec import decode_input, encode
from topics.models import RuleSnoozed, Trigger


def _at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _metric(body: bytes, family: str, **labels: str) -> float:
    for found in text_string_to_metric_families(body.decode()):
        if found.name == family:
            return sum(
                s.value
                for s in found.samples
                if s.name.endswith("_total")
                and all(s.labels.get(k) == v for k, v in labels.items())
            )
    return 0.0


async def test_snooze_override_and_feedback_from_the_cli_reach_the_live_worker(
    kafka_bootstrap: str,
    worker_factory: Callable[..., WorkerProcess],
    signals_config: Path,  # noqa: F811
) -> None:
    worker = worker_factory(**signals_env(signals_config))
    worker.start()
    prefix = worker.env["PULSE_TOPIC_PREFIX"]
    records = simulated(accounts=12, days=30)
    events = [(kind.value, decode_input(kind, value)) for kind, _, value in records]
    config, rules = read_config(signals_config), read_rules(signals_config.parent / "rules.yaml")
    until = max(event.occurred_at for _, event in events)
    plain = replay(events, config, rules, until=until).triggers
    start = min(event.occurred_at for _, event in events)
    # A rule that fires for an account after its first week: snoozed from the day before
    # to beyond the data, it must not fire there. Feedback on another account's trigger.
    snoozed = next(
        t for t in plain if t.kind == "churn_risk" and t.fired_at > start + timedelta(days=8)
    )
    reviewed = next(t for t in plain if t.account_id != snoozed.account_id)
    overridden = next(
        e.account_id for _, e in events if e.account_id not in (None, snoozed.account_id)
    )
    env = {k: v for k, v in worker.env.items() if k != "PULSE_WEB_PORT"}

    def pulse(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "engine.cli", *args, "--by", "csm@example.com"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    snooze = (
        *("snooze", snoozed.account_id, snoozed.rule_id, "--reason", "renewal call booked"),
        *("--at", _at(snoozed.fired_at - timedelta(days=1))),
        *("--until", _at(until + timedelta(days=30)), "--id", "cmd-snooze"),
    )
    given = [
        pulse(*snooze),
        pulse(
            "feedback",
            reviewed.account_id,
            reviewed.trigger_id,
            "false_alarm",
            "--note",
            "they are on holiday",
            "--at",
            _at(reviewed.fired_at + timedelta(hours=1)),
            "--id",
            "cmd-feedback",
        ),
        pulse(
            "override",
            overridden,
            "--score",
            "5",
            "--reason",
            "exec sponsor left",
            "--at",
            _at(start + timedelta(days=10)),
            "--until",
            _at(start + timedelta(days=20)),
            "--id",
            "cmd-override",
        ),
        pulse(
            "snooze",
            snoozed.account_id,
            "no_such_rule",
            "--reason",
            "typo",
            "--at",
            _at(start + timedelta(days=2)),
            "--until",
            _at(start + timedelta(days=9)),
            "--id",
            "cmd-typo",
        ),
    ]
    # An account Pulse has never seen: refused on release, dead-lettered as it came in.
    nobody = (
        *("snooze", "acct-nobody", snoozed.rule_id, "--reason", "wrong account"),
        *("--at", _at(start + timedelta(days=3)), "--until", _at(start + timedelta(days=9))),
    )
    given.append(pulse(*nobody))
    for done in given:
        assert done.returncode == 0, done.stderr
        assert "sent to " + topic_name(TopicKind.COMMANDS, prefix) in done.stdout
    # The same command again (a retry) is applied once.
    assert pulse(*snooze).returncode == 0
    await produce(kafka_bootstrap, prefix, records)

    commands_topic = topic_name(TopicKind.COMMANDS, prefix)
    got = await collect(
        kafka_bootstrap,
        [
            *output_topics(prefix),
            topic_name(TopicKind.HEALTH, prefix),
            topic_name(TopicKind.DEAD_LETTER, prefix),
            commands_topic,
        ],
    )
    commands = [("commands", decode_input(TopicKind.COMMANDS, v)) for v in got[commands_topic]]
    assert len(commands) == 6
    expected = {
        t.trigger_id: orjson.loads(encode(t))
        for t in replay([*events, *commands], config, rules, until=until).triggers
    }
    published = {
        (t := orjson.loads(v))["trigger_id"]: t
        for topic in output_topics(prefix)
        for v in got[topic]
    }
    assert set(published) == set(expected), describe(published, expected)
    held_back = [
        t
        for t in published.values()
        if (t["account_id"], t["rule_id"]) == (snoozed.account_id, snoozed.rule_id)
        and t["fired_at"] >= _at(snoozed.fired_at - timedelta(days=1))
    ]
    assert held_back == []
    assert snoozed.trigger_id not in published

    letters = [orjson.loads(v) for v in got[topic_name(TopicKind.DEAD_LETTER, prefix)]]
    refused = sorted(
        (d["error_message"], d["source_topic"])
        for d in letters
        if d["error_kind"] == "invalid_command"
    )
    assert [topic for _, topic in refused] == [commands_topic, commands_topic], letters
    assert refused[0][0].startswith("account_id: Pulse has no event of account 'acct-nobody'")
    assert "no_such_rule" in refused[1][0]

    scores = [
        s["score"]
        for v in got[topic_name(TopicKind.HEALTH, prefix)]
        if (s := orjson.loads(v))["account_id"] == overridden
    ]
    assert 5.0 in scores, scores  # set,
    assert scores[-1] != 5.0, scores  # then lapsed

    metrics = _wait_for_metric(worker, "pulse_trigger_feedback", rule=reviewed.rule_id)
    assert _metric(metrics, "pulse_trigger_feedback", verdict="false_alarm") == 1
    assert _metric(metrics, "pulse_triggers_suppressed", rule=snoozed.rule_id) >= 1
    assert _metric(metrics, "pulse_commands_applied", type="rule_snoozed") == 1

    view = _view(worker, reviewed.account_id)
    feedback = {t["trigger_id"]: t["feedback"] for t in view["recent_triggers"]}
    if reviewed.trigger_id in feedback:  # still among the ten most recent
        assert feedback[reviewed.trigger_id]["verdict"] == "false_alarm"
    assert any(j["what"] == "trigger_feedback" for j in view["journal"])
    snoozed_view = _view(worker, snoozed.account_id)
    assert [s["rule_id"] for s in snoozed_view["snoozes"]] == [snoozed.rule_id]
    assert {"rule_snoozed", "suppressed"} <= {j["what"] for j in snoozed_view["journal"]}
    assert worker.process is not None
    assert worker.process.poll() is None


def _wait_for_metric(worker: WorkerProcess, family: str, **labels: str) -> bytes:
    deadline = time.monotonic() + 30
    while True:
        status, body = worker.get("/metrics")
        if status == 200 and _metric(body, family, **labels) > 0:
            return body
        assert time.monotonic() < deadline, f"{family} {labels} never counted"
        time.sleep(0.5)


def _view(worker: WorkerProcess, account: str, token: str | None = None) -> dict[str, Any]:
    status, body = worker.get(f"/accounts/{account}", token=token)
    assert status == 200, body
    view: dict[str, Any] = orjson.loads(body)
    return view


READ, WRITE = "read-token-0123456789", "write-token-0123456789"


async def test_http_writes_need_the_write_token_and_reach_the_account(
    kafka_bootstrap: str,
    worker_factory: Callable[..., WorkerProcess],
    signals_config: Path,  # noqa: F811
) -> None:
    worker = worker_factory(
        **signals_env(signals_config), PULSE_API_TOKEN=READ, PULSE_API_WRITE_TOKEN=WRITE
    )
    worker.start()
    prefix = worker.env["PULSE_TOPIC_PREFIX"]
    records = simulated(accounts=8, days=21)
    await produce(kafka_bootstrap, prefix, records)
    got = await collect(kafka_bootstrap, output_topics(prefix), settle=4)
    published = [orjson.loads(v) for topic in output_topics(prefix) for v in got[topic]]
    assert published, worker.tail()
    trigger = published[0]
    account, rule = trigger["account_id"], trigger["rule_id"]
    end = max(decode_input(kind, value).occurred_at for kind, _, value in records)

    def write(method: str, path: str, body: dict[str, Any] | None, token: str | None) -> int:
        raw = None if body is None else orjson.dumps(body)
        return worker.request(method, path, raw, token=token)[0]

    snooze = {
        "rule_id": rule,
        "until": _at(end + timedelta(days=30)),
        "reason": "renewal call booked",
        "author": "csm@example.com",
        "occurred_at": _at(end),
    }
    path = f"/accounts/{account}/snoozes"
    assert write("POST", path, snooze, None) == 401
    assert write("POST", path, snooze, "wrong") == 401
    assert write("POST", path, snooze, READ) == 403
    wrong, _ = worker.request(
        "POST", path, orjson.dumps(snooze), WRITE, {"X-Pulse-Deployment": "someone-else"}
    )
    assert wrong == 403
    assert write("POST", path, snooze | {"rule_id": "no_such_rule"}, WRITE) == 422
    assert write("POST", path, snooze | {"until": "soon"}, WRITE) == 422
    assert write("POST", "/accounts/nobody/snoozes", snooze, WRITE) == 404
    status, body = worker.request("POST", path, orjson.dumps(snooze), token=WRITE)
    assert status == 202, body
    assert orjson.loads(body)["type"] == "rule_snoozed"
    feedback = {"account_id": account, "verdict": "play_started", "author": "csm@example.com"}
    feedback["occurred_at"] = _at(end)
    assert write("POST", f"/triggers/{trigger['trigger_id']}/feedback", feedback, WRITE) == 202
    assert write("POST", f"/triggers/{'0' * 32}/feedback", feedback, WRITE) == 404
    # Commands wait for the data's clock (event clock): later events carry it past them.
    later = clock_events(end + timedelta(days=1), PARTITIONS, tag="later")
    closing = [(TopicKind.ACCOUNTS, key, value) for key, value in later]
    await produce(kafka_bootstrap, prefix, closing)

    deadline = time.monotonic() + 60
    while True:
        view = _view(worker, account, READ)
        if [s["rule_id"] for s in view["snoozes"]] == [rule]:
            break
        assert time.monotonic() < deadline, view
        await asyncio.sleep(0.5)
    assert {"rule_snoozed", "trigger_feedback"} <= {j["what"] for j in view["journal"]}
    status, _ = worker.get(f"/accounts/{account}", token=WRITE)  # the write token reads too
    assert status == 200

    metrics = worker.get("/metrics")[1]
    assert _metric(metrics, "pulse_api_writes", endpoint="snoozes", outcome="accepted") == 1
    assert _metric(metrics, "pulse_api_writes", outcome="unauthorised") == 2
    assert _metric(metrics, "pulse_api_writes", outcome="forbidden") == 1
    assert _metric(metrics, "pulse_api_writes", outcome="wrong_deployment") == 1
    assert _metric(metrics, "pulse_api_writes", outcome="invalid") == 2
    assert _metric(metrics, "pulse_api_writes", outcome="unknown_account") == 1
    assert _metric(metrics, "pulse_api_writes", outcome="unknown_trigger") == 1


async def test_a_snooze_posted_over_http_holds_the_rule_until_its_date_then_it_fires(
    kafka_bootstrap: str,
    worker_factory: Callable[..., WorkerProcess],
    signals_config: Path,  # noqa: F811
) -> None:
    config, rules = read_config(signals_config), read_rules(signals_config.parent / "rules.yaml")
    records = simulated(accounts=12, days=30)
    events = [(kind.value, decode_input(kind, value)) for kind, _, value in records]
    end = max(event.occurred_at for _, event in events)
    start = min(event.occurred_at for _, event in events)

    def snoozed(trigger: Trigger) -> RuleSnoozed:
        return RuleSnoozed(
            command_id="cmd-http-snooze",
            occurred_at=trigger.fired_at - timedelta(days=1),
            account_id=trigger.account_id,
            author="csm@example.com",
            rule_id=trigger.rule_id,
            until=trigger.fired_at + timedelta(days=3),
            reason="renewal call booked",
        )

    def refires(trigger: Trigger) -> bool:
        """Replayed with the snooze, the rule is quiet until its date and fires after."""
        again = replay([*events, ("commands", snoozed(trigger))], config, rules, until=end)
        same = [
            t
            for t in again.triggers
            if (t.account_id, t.rule_id) == (trigger.account_id, trigger.rule_id)
            and t.fired_at >= trigger.fired_at - timedelta(days=1)
        ]
        return bool(same) and same[0].fired_at >= trigger.fired_at + timedelta(days=3)

    plain = replay(events, config, rules, until=end).triggers
    target = next(
        t
        for t in plain
        if t.kind == "churn_risk" and t.fired_at > start + timedelta(days=8) and refires(t)
    )
    snooze = snoozed(target)

    worker = worker_factory(**signals_env(signals_config), PULSE_API_WRITE_TOKEN=WRITE)
    worker.start()
    prefix = worker.env["PULSE_TOPIC_PREFIX"]
    split = target.fired_at - timedelta(days=2)
    before = [r for r, (_, e) in zip(records, events, strict=True) if e.occurred_at < split]
    after = [r for r, (_, e) in zip(records, events, strict=True) if e.occurred_at >= split]
    await produce(kafka_bootstrap, prefix, before)
    deadline = time.monotonic() + 60
    while worker.get(f"/accounts/{target.account_id}")[0] != 200:
        assert time.monotonic() < deadline, f"no view of {target.account_id}"
        await asyncio.sleep(0.5)
    body = orjson.loads(snooze.model_dump_json())
    body = {k: v for k, v in body.items() if k not in ("type", "account_id")}
    status, answer = worker.request(
        "POST", f"/accounts/{target.account_id}/snoozes", orjson.dumps(body), WRITE
    )
    assert status == 202, answer
    await produce(kafka_bootstrap, prefix, after)

    commands_topic = topic_name(TopicKind.COMMANDS, prefix)
    got = await collect(kafka_bootstrap, [*output_topics(prefix), commands_topic])
    commands = [("commands", decode_input(TopicKind.COMMANDS, v)) for v in got[commands_topic]]
    assert [c.command_id for _, c in commands] == [snooze.command_id]
    expected = replay([*events, *commands], config, rules, until=end).triggers
    published = {
        (t := orjson.loads(v))["trigger_id"]: t
        for topic in output_topics(prefix)
        for v in got[topic]
    }
    assert set(published) == {t.trigger_id for t in expected}, describe(
        published, {t.trigger_id: orjson.loads(encode(t)) for t in expected}
    )
    fired = sorted(
        t["fired_at"]
        for t in published.values()
        if (t["account_id"], t["rule_id"]) == (target.account_id, target.rule_id)
        and t["fired_at"] >= _at(target.fired_at - timedelta(days=1))
    )
    assert fired, "the rule never fired again after the snooze"
    assert fired[0] >= _at(snooze.until), fired  # held until the date, then fired
