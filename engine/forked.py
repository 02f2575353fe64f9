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

import argparse
import contextlib
import ctypes
import math
import multiprocessing
import os
import pickle
import signal
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import Any, Final, TypeVar

from signals.errors import SignalsError

T = TypeVar("T")

_FAILED = "pulse.forked.failed"
_PR_SET_PDEATHSIG = 1
"""prctl(2): the signal a process gets when its parent ends."""


CPU_MAX: Final = Path("/sys/fs/cgroup/cpu.max")
"""cgroup v2's CPU quota of this process's group ("max 100000" when there is none)."""


def available_cores() -> int:
    """The cores this process may use: its CPU set (``sched_getaffinity``), and no more
    than its container's CPU quota (``docker --cpus``, a Kubernetes CPU limit), rounded
    up: a process per host core under a quota of two would only contend."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    quota = _cpu_quota(CPU_MAX)
    return max(1, min(cores, quota)) if quota is not None else cores


def _cpu_quota(path: Path) -> int | None:
    try:
        limit, period = path.read_text().split()[:2]
        return math.ceil(int(limit) / int(period))
    except (OSError, ValueError, ZeroDivisionError):  # no cgroup v2, or "max": no quota
        return None


STOPPED_BY_SIGTERM: Final = 128 + signal.SIGTERM
"""A batch job's exit code when SIGTERM stopped it, as a shell reports a killed one."""


@contextlib.contextmanager
def stopped_cleanly_by_sigterm(command: str) -> Iterator[None]:
    """SIGTERM (``kill``, a container stopping, a CI timeout) stops a batch job as Ctrl-C
    would, with its cleanup run (a replay's temporary sort folder removed, its forked
    processes stopped) rather than the process vanishing and leaving them behind.

    Only in the main thread and only where SIGTERM has its default action (a SIGTERM
    ignored on purpose stays ignored); a second SIGTERM during the cleanup is ignored,
    so it cannot cut the cleanup short; the default comes back afterwards."""
    in_main = threading.current_thread() is threading.main_thread()
    if not in_main or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    said = f"{command}: stopped by SIGTERM\n".encode()

    def stop(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        os.write(2, said)  # not print: the signal may have cut a write to stderr short
        raise SystemExit(STOPPED_BY_SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def processes_arg(text: str) -> int:
    """``--processes N``: a whole number of processes, at least 1."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        msg = f"expected a number of processes, 1 or more, not {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return count


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
            process = context.Process(target=_child, args=(task, send, os.getpid()), daemon=True)
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


def _child(task: Callable[[], Any], send: Connection, parent: int) -> None:
    """In a forked process: run the task and send its result, or what went wrong. It
    ends at once on SIGTERM (the parent's, whose cleanup removes what it wrote), not
    by the handler it may have been forked with (``stopped_cleanly_by_sigterm``)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _end_with(parent)
    try:
        result: Any = task()
    except BaseException as exc:  # noqa: BLE001  # reported to the parent, which raises it
        result = (_FAILED, _portable(exc), traceback.format_exc())
    try:
        send.send(result)
    finally:
        send.close()


def _end_with(parent: int) -> None:
    """Have the kernel stop this process when its parent ends (Linux), so that a killed
    `pulse replay` leaves no shard running on its cores for nothing."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the parent's finally still stops it
        return
    if os.getppid() != parent:  # it ended before the request was made
        os._exit(1)


def _portable(error: BaseException) -> BaseException:
    """The error itself where it survives pickling, else its text (the parent reports
    it with the child's traceback)."""
    try:
        pickle.loads(pickle.dumps(error))  # noqa: S301  # our own bytes, just made
    except Exception:  # noqa: BLE001  # any failure to round-trip means: send text
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


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
