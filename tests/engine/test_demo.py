"""`pulse demo` in a short mode: it runs end to end and ends with the evaluation report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from tests.conftest import free_port


def test_short_demo_streams_scores_and_explains(kafka_bootstrap: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine.cli",
            "demo",
            "--accounts",
            "40",
            "--days",
            "30",
            "--port",
            str(free_port()),
            "--dir",
            str(tmp_path),
            "--settle",
            "3",
            "--timeout",
            "300",
        ],
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "== Evaluation (pulse evaluate) ==" in out
    evaluation = out[out.index("== Evaluation (pulse evaluate) ==") :]
    assert evaluation.split("\n")[2].startswith("Pulse vs baseline: ")
    assert "Churned accounts caught" in evaluation
    assert "Baseline rules (an analyst's three)" in evaluation
    assert "Pulse rules" in evaluation
    assert "== Three triggers explained ==" in out
    assert out.count("    health ") >= 2  # at least two explained triggers
    assert "== Outcomes published (the outcomes topic) ==" in out
    assert "cancellations published:" in out
    assert "== Where to look next ==" in out
    (run,) = tmp_path.iterdir()
    assert (run / "triggers.jsonl").stat().st_size > 0
    assert (run / "truth.json").stat().st_size > 0
    assert (run / "events.jsonl").stat().st_size > 0
    published = (run / "outcomes.jsonl").read_bytes().splitlines()
    truth = orjson.loads((run / "truth.json").read_bytes())["accounts"]
    ended = {a for a, facts in truth.items() if facts["cancelled_at"] is not None}
    assert ended, "the demo's population has cancellations to publish"
    assert sorted(orjson.loads(line)["account_id"] for line in published) == sorted(ended)
    assert f"--events {run / 'events.jsonl'}" in out
