"""The benchmarks stay runnable: a quick run of each prints its table (numbers are not judged)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson


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


def test_worker_benchmark_quick_run(kafka_bootstrap: str, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench.worker", "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    figures = orjson.loads(out.read_bytes())
    assert figures["throughput"]["events_per_s"] > 0
    assert figures["latency"]["triggers"] == figures["latency"]["sent"]
    assert "worker end to end, events/s" in result.stdout
