"""The realistic population: reproducible, mostly small, renewals spread, plausible churn."""

from __future__ import annotations

import argparse
import io
import statistics
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine.simulator import Simulation, SimulationConfig
from engine.simulator import cli as simulator_cli
from engine.simulator.realistic.archetypes import CHURN_ARCHETYPES, CONFOUNDERS, TRIALS
from engine.simulator.writers import write_replay


def _config(**changes: Any) -> SimulationConfig:
    return SimulationConfig(**({"preset": "realistic", "seed": 5} | changes))


def _replay(config: SimulationConfig) -> bytes:
    out = io.BytesIO()
    write_replay(Simulation(config).records(), out)
    return out.getvalue()


@pytest.fixture(scope="module")
def book() -> dict[str, dict[str, Any]]:
    """The truth of 1,500 accounts over 240 days (no events rendered)."""
    document = Simulation(_config(accounts=1500, days=240)).truth_document()
    return orjson.loads(orjson.dumps(document, option=orjson.OPT_UTC_Z))["accounts"]


def _paid(book: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in book.values() if t["trial_days"] is None]


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not() -> None:
    first = _replay(_config(accounts=12, days=30))
    assert first == _replay(_config(accounts=12, days=30))
    assert len(first.splitlines()) > 2000
    assert _replay(_config(accounts=12, days=30, seed=6)) != first
    truth = Simulation(_config(accounts=12, days=30)).truth_document()
    assert truth == Simulation(_config(accounts=12, days=30)).truth_document()
    assert truth["preset"] == "realistic"


def _records_of(config: SimulationConfig, account_id: str) -> list[bytes]:
    """The account's records: keyed by it, or by one of its users (user-only Segment calls)."""
    records = list(Simulation(config).records())
    users = set()
    for record in records:
        message = orjson.loads(record.value)
        if message.get("type") == "group" and message.get("groupId") == account_id:
            users.add(message["userId"].encode())
    return [r.value for r in records if r.key == account_id.encode() or r.key in users]


def test_an_account_is_the_same_however_many_others_are_simulated() -> None:
    quiet = {"late_rate": 0.0, "duplicate_rate": 0.0, "malformed_rate": 0.0, "days": 30}
    few, many = _config(accounts=4, **quiet), _config(accounts=9, **quiet)
    assert _records_of(few, "acct-00003") == _records_of(many, "acct-00003")
    assert len(_records_of(few, "acct-00003")) > 20
    truth_few = Simulation(few).truth_document()["accounts"]["acct-00003"]
    assert truth_few == Simulation(many).truth_document()["accounts"]["acct-00003"]


def test_seats_run_from_3_to_500_and_most_accounts_are_small(book: dict[str, Any]) -> None:
    seats = sorted(t["seats"] for t in _paid(book))
    assert seats[0] >= 3
    assert seats[-1] <= 500
    assert seats[-1] >= 200
    assert statistics.median(seats) <= 15
    assert sum(s <= 20 for s in seats) / len(seats) >= 0.6
    assert 15 <= statistics.mean(seats) <= 40


def test_both_contracts_and_renewal_dates_spread_over_the_year(book: dict[str, Any]) -> None:
    paid = _paid(book)
    contracts = Counter(t["contract"] for t in paid)
    assert 0.4 <= contracts["monthly"] / len(paid) <= 0.75
    annual = [date.fromisoformat(t["renewal_date"]) for t in paid if t["contract"] == "annual"]
    months = Counter(d.month for d in annual)
    assert len(months) == 12
    assert max(months.values()) / len(annual) < 0.15
    monthly = [date.fromisoformat(t["renewal_date"]) for t in paid if t["contract"] == "monthly"]
    assert len({d.day for d in monthly}) == 28
    assert max(monthly) - min(monthly) <= timedelta(days=31)


def test_a_plausible_share_of_paid_accounts_cancels_in_240_days(book: dict[str, Any]) -> None:
    paid = _paid(book)
    cancelled = [t for t in paid if t["cancelled_at"]]
    assert 0.08 <= len(cancelled) / len(paid) <= 0.15

    def rate(contract: str) -> float:
        of = [t for t in paid if t["contract"] == contract]
        return sum(1 for t in of if t["cancelled_at"]) / len(of)

    assert rate("monthly") > 1.5 * rate("annual") > 0
    assert {t["persona"] for t in cancelled} == {a.value for a in CHURN_ARCHETYPES}


def test_paid_accounts_cancel_at_renewal_dates_or_when_dunning_ends(book: dict[str, Any]) -> None:
    checked = 0
    for truth in _paid(book):
        if truth["cancelled_at"] is None:
            continue
        at = datetime.fromisoformat(truth["cancelled_at"])
        renewal = date.fromisoformat(truth["renewal_date"])
        if truth["persona"] == "payment_lapses":
            dunning = range(14, 22)
            assert any(_renews_on(truth, renewal, at.date() - timedelta(days=n)) for n in dunning)
        else:
            assert _renews_on(truth, renewal, at.date()), truth
        assert (at.hour, at.minute) < (0, 11)
        checked += 1
    assert checked > 100


def _renews_on(truth: dict[str, Any], renewal: date, day: date) -> bool:
    if truth["contract"] == "annual":
        return (day.month, day.day) == (renewal.month, renewal.day)
    return day.day == renewal.day


def test_trials_of_14_and_30_days_some_convert_and_many_lapse(book: dict[str, Any]) -> None:
    trials = [t for t in book.values() if t["trial_days"] is not None]
    assert {t["trial_days"] for t in trials} == {14, 30}
    assert {t["persona"] for t in trials} == {a.value for a in TRIALS}
    ended = [t for t in trials if _trial_end(t) + timedelta(days=1) < date(2027, 2, 26)]
    converted = [t for t in ended if t["converted_at"]]
    lapsed = [t for t in ended if t["cancelled_at"]]
    assert len(converted) + len(lapsed) == len(ended)
    assert 0.15 <= len(converted) / len(ended) <= 0.5
    for truth in lapsed:
        lapsed_on = datetime.fromisoformat(truth["cancelled_at"]).date()
        assert 0 <= (lapsed_on - _trial_end(truth)).days <= 1  # signed up late in the UTC day


def _trial_end(truth: dict[str, Any]) -> date:
    return date.fromisoformat(truth["first_day"]) + timedelta(days=truth["trial_days"])


def test_confounders_growth_and_advocates_never_cancel(book: dict[str, Any]) -> None:
    staying = [t for t in book.values() if t["persona"] not in CHURN_ARCHETYPES | TRIALS]
    assert {t["persona"] for t in staying} >= {a.value for a in CONFOUNDERS}
    assert all(t["cancelled_at"] is None and t["cancels_on"] is None for t in staying)
    expanded = [t for t in staying if t["expanded_at"]]
    assert {t["persona"] for t in expanded} == {"expands"}


def test_preset_is_checked_and_the_api_default_stays_easy() -> None:
    assert SimulationConfig().preset == "easy"
    with pytest.raises(ValueError, match="preset must be one of easy, realistic"):
        SimulationConfig(preset="hard")


def _simulate(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    simulator_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["simulate", *argv])
    return int(args.func(args))


def test_the_cli_simulates_the_realistic_preset_unless_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, truth = tmp_path / "events.jsonl", tmp_path / "truth.json"
    common = ["--accounts", "3", "--days", "5", "--out", str(out), "--truth", str(truth)]
    assert _simulate(*common) == 0
    assert orjson.loads(truth.read_bytes())["preset"] == "realistic"
    assert _simulate(*common, "--preset", "easy", "--mix", "healthy_steady=1") == 0
    document = orjson.loads(truth.read_bytes())
    assert document["preset"] == "easy"
    assert {t["persona"] for t in document["accounts"].values()} == {"healthy_steady"}
    assert _simulate(*common, "--mix", "healthy_steady=1") == 2
    assert "--mix applies to --preset easy only" in capsys.readouterr().err
