"""`pulse peers` as a user runs it: a history in, a signals configuration with a peer
table out, which then places the book's accounts across the percentiles."""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from engine.event_file import SortedEventFile
from engine.replay_processes import replay_in_processes
from engine.signals_files import read_config
from engine.simulator import CORE_FEATURES, Simulation, SimulationConfig
from engine.simulator.writers import write_replay
from signals.metrics import evaluate
from signals.metrics.lifecycle import is_cancelled
from signals.peers import band_of
from signals.rules import RuleSet

CONFIG = "usage:\n  core_features: [" + ", ".join(CORE_FEATURES) + "]\n"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("peers")
    with (folder / "events.jsonl").open("wb") as out:
        write_replay(Simulation(SimulationConfig(accounts=120, days=70, seed=8)).records(), out)
    (folder / "signals.yaml").write_text(CONFIG)
    return folder


def peers(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", "peers", "events.jsonl", "--no-progress", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_table_learned_places_the_book_across_the_percentiles(history: Path) -> None:
    result = peers(history, "--out", "peers.yaml", "--config", "signals.yaml", "--min-peers", "10")
    assert result.returncode == 0, result.stderr
    assert "customers to compare, by seats purchased" in result.stdout
    assert "wrote peers.yaml" in result.stdout
    config = read_config(history / "peers.yaml")
    assert config.usage.core_features == tuple(CORE_FEATURES)  # the base config is kept
    assert config.peers.percentiles, result.stdout
    assert config.peers.learned_from is not None
    assert config.peers.learned_from.startswith("events.jsonl: dau_share_of_seats")

    # Each customer, placed by the table learned from the same history, lands across the
    # percentiles: about half below its band's median, not all at one end.
    with SortedEventFile(history / "events.jsonl", processes=1) as events:
        replayed = replay_in_processes(events, config, RuleSet(), processes=1)
    end = replayed.summary.last_event
    assert end is not None
    placed: dict[str, list[tuple[float, float]]] = {}
    for state in replayed.states.values():
        standing = evaluate("dau_share_peer_percentile", state, end, config)
        share = evaluate("dau_share_of_seats", state, end, config)
        seats = evaluate("seats_purchased", state, end, config)
        if standing is None or share is None or seats is None or is_cancelled(state):
            continue
        placed.setdefault(band_of(seats, config.peers.seat_bands), []).append((share, standing))
    assert set(placed) == set(config.peers.percentiles)
    for band, pairs in placed.items():
        pairs.sort()
        standings = [standing for _, standing in pairs]
        assert standings == sorted(standings), band  # more use, higher among its peers
        assert 30 <= statistics.median(standings) <= 70, (band, standings)
        assert min(standings) < 25, (band, sorted(standings))
        assert max(standings) > 75, (band, sorted(standings))


def test_too_small_a_book_writes_nothing_and_says_why(history: Path) -> None:
    result = peers(history, "--out", "none.yaml", "--min-peers", "100000")
    assert result.returncode == 1
    assert "too few accounts to compare with" in result.stdout
    assert "nothing written (--min-peers N, or wider --bands)" in result.stderr
    assert not (history / "none.yaml").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--out", "x.yaml", "--bands", "50,10"), "want ascending seat counts above 1"),
        (("--out", "x.yaml", "--min-peers", "0"), "must be at least 1, got 0"),
        (("--out", "no/such/folder/x.yaml"), "cannot write no/such/folder/x.yaml: no folder"),
        (("--out", "x.yaml", "--config", "missing.yaml"), "cannot read signals config missing"),
        (("--out", "events.jsonl"), "cannot write events.jsonl: it is the input events.jsonl"),
        (("--out", "."), "cannot write .: it is a folder"),
    ],
)
def test_bad_arguments_are_one_clear_error(
    history: Path, args: tuple[str, ...], message: str
) -> None:
    before = (history / "events.jsonl").read_bytes()
    result = peers(history, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (history / "x.yaml").exists()
    assert (history / "events.jsonl").read_bytes() == before


def test_a_configuration_whose_health_reads_peers_learns_its_first_table(
    history: Path,
) -> None:
    """Health that reads the peer percentile cannot run without a table; learning the
    first one for it must not be refused for the want of itself."""
    health = read_config(None).health.model_dump(mode="json")
    health["components"]["product_usage"]["metrics"][1] = {
        "metric": "dau_share_peer_percentile",
        "red": 10,
        "green": 50,
    }
    (history / "wants.yaml").write_text(yaml.safe_dump({"health": health}))
    result = peers(history, "--config", "wants.yaml", "--out", "has.yaml", "--min-peers", "10")
    assert result.returncode == 0, result.stderr
    config = read_config(history / "has.yaml")
    assert config.peers.percentiles
    metrics = config.health.components["product_usage"].metrics
    assert metrics[1].metric == "dau_share_peer_percentile"


def test_a_peer_table_file_that_cannot_be_right_is_refused(tmp_path: Path) -> None:
    wrong = {"peers": {"percentiles": {"1-9 seats": [0.3, 0.1]}}}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(wrong))
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", "replay", "/dev/null", "--config", "bad.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "peers" in result.stderr
    assert "21 values" in result.stderr
