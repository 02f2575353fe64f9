"""Fork-join for batch jobs: run a few tasks at once, one per core, results in order.

`pulse replay` and `pulse tune` split their work (reading the file, replaying the
accounts) into tasks that read shared inputs and return a picklable result. The first
task runs in this process and each other one in a forked child, which shares this
process's memory (the sorted input, the configuration) without copying it. A child's
failure is raised here: an ``OSError``, ``ValueError`` or ``SignalsError`` as itself
(a missing file reads the same with one process or many), anything else as a
``SignalsError`` naming the task with the child's traceback. After a failure, the
other children are stopped.

Where fork does not exist, the tasks run here one after the other.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

from signals.errors import SignalsError

T = TypeVar("T")

_FAILED = "pulse.forked.failed"


def available_cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def run_forked(tasks: Sequence[Callable[[], T]]) -> list[T]:
    """Each task's result, in the tasks' order."""
    if len(tasks) <= 1 or not can_fork():
        return [task() for task in tasks]
    context = multiprocessing.get_context("fork")
    running: list[tuple[int, BaseProcess, Connection]] = []
    try:
        for index, task in enumerate(tasks[1:], 1):
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_child, args=(task, send), daemon=True)
            process.start()
            send.close()
            running.append((index, process, receive))
        first = tasks[0]()
        return [first, *(_receive(index, child, pipe) for index, child, pipe in running)]
    finally:  # after a failure, the other tasks' work is of no use
        for _, child, pipe in running:
            if child.is_alive():
                child.terminate()
            child.join()
            pipe.close()


def _child(task: Callable[[], Any], send: Connection) -> None:
    """In a forked process: run the task and send its result, or what went wrong."""
    try:
        result: Any = task()
    except BaseException as exc:  # noqa: BLE001  # reported to the parent, which raises it
        result = (_FAILED, exc, traceback.format_exc())
    try:
        send.send(result)
    finally:
        send.close()


def _receive(index: int, process: BaseProcess, receive: Connection) -> Any:
    try:
        received = receive.recv()
    except EOFError:
        process.join()
        msg = (
            f"task {index} of a forked batch ended without a result (exit code {process.exitcode})"
        )
        raise SignalsError(msg) from None
    if isinstance(received, tuple) and len(received) == 3 and received[0] == _FAILED:
        _, error, trace = received
        if isinstance(error, SignalsError | ValueError | OSError):
            raise error
        msg = f"task {index} of a forked batch failed:\n{trace}"
        raise SignalsError(msg)
    return received
