"""engine.forked: tasks run at once in forked processes, results in order, failures raised."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine import forked
from engine.forked import run_forked
from signals.errors import SignalsError


def test_tasks_run_in_their_own_processes_and_return_in_order() -> None:
    results = run_forked([lambda i=i: (i, os.getpid()) for i in range(3)])

    assert [index for index, _ in results] == [0, 1, 2]
    pids = [pid for _, pid in results]
    assert pids[0] == os.getpid()  # the first runs here
    assert len(set(pids)) == 3


def test_a_process_that_dies_without_a_result_is_an_error() -> None:
    def dies() -> int:
        os._exit(3)

    with pytest.raises(SignalsError, match=r"task 1 .* ended without a result \(exit code 3\)"):
        run_forked([lambda: 1, dies])


def test_a_failure_of_the_first_task_stops_the_others() -> None:
    def fails() -> int:
        raise ValueError("bad rules")

    def waits() -> int:
        time.sleep(600)
        return 0

    with pytest.raises(ValueError, match="bad rules"):
        run_forked([fails, waits])
    assert multiprocessing.active_children() == []  # stopped, not left for ten minutes


class _Unpicklable(Exception):
    """Pickles, but cannot be rebuilt (a required argument), like a config error."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")


def test_an_error_that_cannot_travel_arrives_as_its_text_and_traceback() -> None:
    def fails() -> int:
        raise _Unpicklable("rules.yaml", "bad threshold")

    with pytest.raises(SignalsError, match=r"(?s)task 1 .* failed:.*bad threshold"):
        run_forked([lambda: 1, fails])


def test_a_killed_parent_takes_its_forked_tasks_with_it(tmp_path: Path) -> None:
    """SIGKILL to `pulse replay` must not leave shards running on every core."""
    script = (
        "import os, sys, time\n"
        "from engine.forked import run_forked\n"
        "def child():\n"
        "    print(os.getpid(), flush=True)\n"
        "    time.sleep(600)\n"
        "run_forked([lambda: time.sleep(600), child])\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    ) as parent:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        parent.kill()
    for _ in range(100):
        if not _alive(child):
            break
        time.sleep(0.05)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status  # a zombie has ended


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("max 100000\n", None), ("200000 100000\n", 2), ("150000 100000\n", 2), ("", None)],
)
def test_a_containers_cpu_quota_caps_the_cores(
    tmp_path: Path, cpu_max: str, expected: int | None
) -> None:
    path = tmp_path / "cpu.max"
    path.write_text(cpu_max)
    assert forked._cpu_quota(path) == expected
    assert forked._cpu_quota(tmp_path / "missing") is None


def test_sigterm_stops_a_batch_job_as_an_exit_whose_cleanup_runs(
    capfd: pytest.CaptureFixture[str],
) -> None:
    cleaned: list[object] = []

    def job() -> None:
        with forked.stopped_cleanly_by_sigterm("pulse x"):
            try:
                assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # or pytest dies
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)  # interrupted by the handler
            finally:  # a second SIGTERM cannot cut the cleanup short
                cleaned.append(signal.getsignal(signal.SIGTERM))

    with pytest.raises(SystemExit) as stopped:
        job()

    assert stopped.value.code == 128 + signal.SIGTERM
    assert cleaned == [signal.SIG_IGN]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # nothing left installed
    assert "pulse x: stopped by SIGTERM" in capfd.readouterr().err


def test_a_sigterm_ignored_on_purpose_stays_ignored() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with forked.stopped_cleanly_by_sigterm("pulse x"):
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def test_outside_the_main_thread_sigterm_is_left_alone() -> None:
    seen: list[object] = []

    def job() -> None:
        with forked.stopped_cleanly_by_sigterm("pulse x"):  # signal.signal would raise here
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=job)
    thread.start()
    thread.join()

    assert seen == [signal.SIG_DFL]
