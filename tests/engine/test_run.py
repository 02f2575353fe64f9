"""`pulse worker` refuses to start with one clear line when it cannot run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", "worker"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_taken_web_port_is_named() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = start({"PULSE_WEB_PORT": str(port), "PULSE_STORE": "memory://"})

    assert result.returncode == 2
    assert f"PULSE_WEB_PORT: 127.0.0.1:{port} is not available" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_setting_and_bad_rules_file_are_named(tmp_path: Path) -> None:
    result = start({"PULSE_CLOCK": "sundial"})
    assert result.returncode == 2
    assert "PULSE_CLOCK" in result.stderr
    assert "Traceback" not in result.stderr

    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - id: x\n    version: zero\n")
    result = start({"PULSE_RULES_FILE": str(rules), "PULSE_STORE": "memory://"})
    assert result.returncode == 2
    assert f"{rules}:3" in result.stderr
    assert "Traceback" not in result.stderr
