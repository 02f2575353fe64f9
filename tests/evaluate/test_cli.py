"""`pulse evaluate --events` end to end on a small simulated population replayed by the core."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import orjson
import pytest

from engine.cli import main
from engine.evaluation.files import read_events
from engine.evaluation.outcomes import outcomes_from_events
from engine.replay_cli import read_events as decode_lines
from engine.simulator import CORE_FEATURES, Simulation, SimulationConfig
from engine.simulator.writers import write_replay
from signals.config import load_config
from signals.replay import replay
from signals.rules import default_rules
from topics.codec import encode

CONFIG = SimulationConfig(accounts=40, days=60, seed=11)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Simulated events (Stripe, Segment and Pulse shapes, with faults), truth and triggers."""
    folder = tmp_path_factory.mktemp("evaluate")
    simulation = Simulation(CONFIG)
    events = folder / "events.jsonl"
    with events.open("wb") as out:
        write_replay(simulation.records(), out)
    truth = folder / "truth.json"
    truth.write_bytes(orjson.dumps(simulation.truth_document(), option=orjson.OPT_UTC_Z))
    with events.open("rb") as handle:
        decoded = decode_lines(iter(handle), None)
    config = load_config({"usage": {"core_features": list(CORE_FEATURES)}})
    result = replay(decoded.events, config, default_rules())
    triggers = folder / "triggers.jsonl"
    triggers.write_bytes(b"".join(encode(t) + b"\n" for t in result.triggers))
    return {"events": events, "truth": truth, "triggers": triggers}


def _evaluate(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main(["evaluate", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_outcomes_read_from_events_match_the_simulators_truth(run: dict[str, Path]) -> None:
    truth = orjson.loads(run["truth"].read_bytes())["accounts"]
    outcomes = outcomes_from_events(read_events(run["events"]).history)
    assert set(outcomes) == set(truth)
    for account, facts in truth.items():
        expected = facts["cancelled_at"] and datetime.fromisoformat(facts["cancelled_at"])
        assert outcomes[account].cancelled_at == (expected or None), account
        assert outcomes[account].trial_lapse == (expected is not None and facts["plan"] == "Trial")
    assert any(o.churned for o in outcomes.values())


def test_events_alone_give_the_report_the_truth_gives(
    run: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _evaluate(capsys, "--triggers", run["triggers"], "--events", run["events"])
    assert code == 0
    from_events = orjson.loads(
        _evaluate(capsys, "--triggers", run["triggers"], "--events", run["events"], "--json")[1]
    )
    both = orjson.loads(
        _evaluate(
            capsys, "--triggers", run["triggers"], "--events", run["events"],
            "--truth", run["truth"], "--json",
        )[1]
    )  # fmt: skip
    for section in ("pulse", "baseline", "integrity"):
        assert from_events[section] == both[section], section
    assert from_events["population"]["churned"] == both["population"]["churned"] > 0
    assert both["personas"] is not None
    assert from_events["baseline"]["alerts"] > 0
    assert out.startswith("Pulse vs baseline:")
    assert "Baseline rules (an analyst's three)" in out
    assert out.index("Must be 0") > out.index("Pulse rules")


def test_horizon_and_csms_options(run: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--triggers", run["triggers"], "--events", run["events"], "--json"]
    wide = orjson.loads(_evaluate(capsys, *args)[1])
    narrow = orjson.loads(_evaluate(capsys, *args, "--horizon-days", "1", "--csms", "4")[1])
    assert narrow["settings"]["horizon_days"] == 1
    assert narrow["population"]["csms"] == 4
    assert narrow["pulse"]["caught"] <= wide["pulse"]["caught"]


def test_errors_name_what_is_missing(
    run: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = _evaluate(capsys, "--triggers", run["triggers"])
    assert (code, err.strip()) == (
        2,
        "pulse evaluate: error: outcomes need --events, --truth or both",
    )
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"{nope\n")
    code, _, err = _evaluate(capsys, "--triggers", run["triggers"], "--events", bad)
    assert code == 2
    assert str(bad) in err


def test_a_file_that_is_not_what_its_option_says_is_refused(
    run: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # the events file given as triggers: all its lines are messages of other topics
    code, out, err = _evaluate(capsys, "--triggers", run["events"], "--events", run["events"])
    assert (code, out) == (2, "")
    assert "no trigger among its" in err
    assert "is it the events file?" in err
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    code, out, err = _evaluate(capsys, "--triggers", run["triggers"], "--events", empty)
    assert (code, out) == (2, "")
    assert f"{empty}: holds no event" in err
    code, _, err = _evaluate(capsys, "--triggers", tmp_path / "nope.jsonl", "--truth", run["truth"])
    assert code == 2
    assert err.strip() == f"pulse evaluate: error: cannot read {tmp_path / 'nope.jsonl'}: " + (
        "No such file or directory"
    )


def test_a_rule_set_that_never_fires_is_scored_with_a_warning(
    run: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    empty = tmp_path / "none.jsonl"
    empty.write_bytes(b"")
    code, out, err = _evaluate(capsys, "--triggers", empty, "--events", run["events"])
    assert code == 0
    assert "holds no trigger" in err
    assert "Churned accounts caught" in out


@pytest.mark.parametrize(
    ("option", "value", "reason"),
    [
        ("--warmup-days", "-5", "must be 0 or more"),
        ("--csms", "0", "must be at least 1"),
        ("--horizon-days", "nan", "expected a finite number"),
    ],
)
def test_nonsense_settings_are_refused(
    run: dict[str, Path], capsys: pytest.CaptureFixture[str], option: str, value: str, reason: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(
            [
                "evaluate",
                "--triggers",
                str(run["triggers"]),
                "--truth",
                str(run["truth"]),
                option,
                value,
            ]
        )
    assert exited.value.code == 2
    assert reason in capsys.readouterr().err


def test_truth_alone_says_what_it_cannot_know(
    run: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, alone, _ = _evaluate(capsys, "--triggers", run["triggers"], "--truth", run["truth"])
    _, both, _ = _evaluate(
        capsys, "--triggers", run["triggers"], "--truth", run["truth"], "--events", run["events"]
    )
    assert "Without --events the notices of cancellation are unknown" in alone
    assert "Without --events" not in both
    expansion_rows = [
        line.split() for line in alone.splitlines() if line.split()[1:2] == ["expansion"]
    ]
    assert expansion_rows, alone
    assert all(row[6] == "-" for row in expansion_rows)  # precision: unknown, not 0%


def test_a_truth_of_another_population_is_called_out(
    run: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    other = tmp_path / "other.truth.json"
    document = Simulation(SimulationConfig(accounts=40, days=60, seed=12)).truth_document()
    other.write_bytes(orjson.dumps(document, option=orjson.OPT_UTC_Z))
    args = ["--triggers", run["triggers"], "--events", run["events"]]
    _, mismatched, _ = _evaluate(capsys, *args, "--truth", other)
    _, matched, _ = _evaluate(capsys, *args, "--truth", run["truth"])
    assert "WARNING: the truth and the events disagree on" in mismatched
    assert "WARNING" not in matched
