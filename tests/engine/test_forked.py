"""engine.forked: tasks run at once in forked processes, results in order, failures raised."""

from __future__ import annotations

import multiprocessing
import os
import time

import pytest

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
