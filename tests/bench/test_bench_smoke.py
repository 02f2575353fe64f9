"""The benchmarks stay runnable: quick runs print their tables (numbers are not judged)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

# Every section of the suite (issue 8) and the figures it must carry, as paths into the JSON.
REQUIRED: dict[str, tuple[str, ...]] = {
    "ceiling": ("events_per_s",),
    "core": ("events_per_s", "typical_account.events_per_s", "state_bytes.p50"),
    "replay": (
        "processes_1.events_per_s",
        "processes_1.peak_rss_bytes",
        "triggers",
        "year.events",
        "year.peak_rss_bytes",
    ),
    "pulse": ("events_per_s", "rss_bytes"),
    "scale": ("workers", "events_per_s"),
    "peers": ("quix.events_per_s", "faust.events_per_s"),
    "latency": ("rate_per_s", "p50_ms", "p95_ms", "p99_ms"),
    "memory": ("state_bytes.p50", "state_bytes.mean", "rss.0.rss_bytes", "rss.1.rss_bytes"),
    "recovery": ("accounts", "ready_local_store_s", "ready_changelog_s"),
}


def figure(document: Any, path: str) -> Any:
    for part in path.split("."):
        document = document[int(part)] if isinstance(document, list) else document[part]
    return document


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def test_core_benchmark_prints_its_table() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.core"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "SignalProcessor.apply events/s" in result.stdout
    assert "state bytes, typical" in result.stdout


@pytest.mark.timeout(600)  # as long as the subprocess may take; a stalled peer is restarted
def test_suite_quick_run_fills_every_section(kafka_bootstrap: str, tmp_path: Path) -> None:
    """`python -m bench --quick` (what CI runs): every section present, every figure a number."""
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out), "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-6000:]
    figures = orjson.loads(out.read_bytes())
    assert figures["errors"] == {}
    for section, paths in REQUIRED.items():
        assert isinstance(figures.get(section), dict), f"section {section} is missing"
        for path in paths:
            value = figure(figures[section], path)
            assert is_number(value), f"{section}.{path} is {value!r}, not a number"
    assert figures["meta"]["population"]["events"] > 0
    assert figures["latency"]["triggers"] > 0
    measures = [row["measure"] for row in figures["targets"]]
    assert any("Pulse / Quix Streams" in measure for measure in measures)
    assert any("pulse replay on" in measure for measure in measures)
    cores = figures["replay"]["cores"]
    assert is_number(figure(figures["replay"], f"processes_{cores}.events_per_s"))
    assert "Pulse worker end to end" in result.stdout
