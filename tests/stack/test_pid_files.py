"""The local stack's pid files: a stale one whose pid now belongs to something else (after a
reboot: any process, or a thread of the broker) must not pass for a running Redis or Kafka."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

STACK = Path(__file__).parents[2] / "deploy" / "local" / "stack.sh"


def _pid_alive(pid_file: Path, pattern: str) -> bool:
    """Run stack.sh's own pid_alive on a pid file."""
    script = (
        f'source <(sed -n "/^pid_alive()/,/^}}/p" "{STACK}")\npid_alive "{pid_file}" "{pattern}"'
    )
    return subprocess.run(["bash", "-c", script], check=False).returncode == 0


@pytest.fixture
def sleeper() -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


def test_a_live_process_of_another_program_is_not_ours(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    pid_file = tmp_path / "redis.pid"
    pid_file.write_text(str(sleeper.pid))
    assert not _pid_alive(pid_file, "redis-server")
    assert _pid_alive(pid_file, "time.sleep")  # the same check does know its own program


def test_a_thread_is_not_a_process(tmp_path: Path) -> None:
    started, stop = threading.Event(), threading.Event()
    ids: list[int] = []

    def run() -> None:
        ids.append(threading.get_native_id())
        started.set()
        stop.wait(10)

    thread = threading.Thread(target=run)
    thread.start()
    started.wait(5)
    try:
        pid_file = tmp_path / "kafka.pid"
        pid_file.write_text(str(ids[0]))
        assert not _pid_alive(pid_file, "python")  # kill -0 accepts the id; the check does not
        pid_file.write_text(str(os.getpid()))
        assert _pid_alive(pid_file, "python|pytest")
    finally:
        stop.set()
        thread.join()


def test_a_dead_pid_is_not_alive(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    pid_file = tmp_path / "redis.pid"
    pid_file.write_text(str(sleeper.pid))
    sleeper.kill()
    sleeper.wait()
    assert not _pid_alive(pid_file, "time.sleep")
