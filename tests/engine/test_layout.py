"""The layout the README promises: engine -> signals -> topics, a pure core, and
faust's and aiokafka's private names used only under engine/transport/."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path

from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer

ROOT = Path(__file__).resolve().parents[2]
IMPURE = {"faust", "aiokafka", "mode", "redis", "asyncio", "kafka", "engine", "time"}
"""What the pure core (signals/, topics/) never imports: transports, I/O, the clock."""
TRANSPORTS = {"faust", "aiokafka", "mode"}
OWN_PRIVATE = {"_fields", "_replace", "_exit", "_SubParsersAction"}
"""Underscore names outside the transport that are not faust's or aiokafka's:
AccountState._fields, NamedTuple._replace, os._exit, argparse._SubParsersAction."""


def modules(folder: str) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted((ROOT / folder).rglob("*.py")):
        yield path, ast.parse(path.read_text(), str(path))


def imported(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_the_pure_core_imports_no_transport_io_or_clock() -> None:
    found = {
        f"{path.relative_to(ROOT)}: {name}"
        for folder in ("signals", "topics")
        for path, tree in modules(folder)
        for name in imported(tree) & IMPURE
    }
    assert not found, sorted(found)


def test_topics_know_nothing_of_signals() -> None:
    found = [str(p.relative_to(ROOT)) for p, t in modules("topics") if "signals" in imported(t)]
    assert not found


def private_names(tree: ast.Module) -> set[str]:
    """``x._name`` where x is not self, cls or super(); and ``from m import _name``."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            base = node.value
            own = isinstance(base, ast.Name) and base.id in {"self", "cls"}
            parent = isinstance(base, ast.Call) and getattr(base.func, "id", "") == "super"
            if not (own or parent or node.attr.startswith("__")):
                names.add(node.attr)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in TRANSPORTS:
            names.update(a.name for a in node.names if a.name.startswith("_"))
    return names


def test_faust_and_aiokafka_private_names_live_only_in_the_transport() -> None:
    found = {
        f"{path.relative_to(ROOT)}: {name}"
        for path, tree in modules("engine")
        if "transport" not in path.relative_to(ROOT).parts
        for name in private_names(tree) - OWN_PRIVATE
    }
    assert not found, sorted(found)


def test_the_transport_does_use_them_so_the_check_above_can_see_them() -> None:
    used = set().union(*(private_names(t) for _, t in modules("engine/transport")))
    assert {"_get_active_partitions", "_paused_partitions", "_current_event"} <= used


def test_the_private_names_the_watchdogs_read_exist_in_the_installed_faust() -> None:
    """engine.transport.watchdogs: an upgrade that renames one fails here."""
    assert callable(Consumer._get_active_partitions)
    assert "self._paused_partitions" in inspect.getsource(Consumer)
    recovery = inspect.getsource(Recovery)
    assert "self.in_recovery" in recovery
    assert "self.completed" in recovery
    assert isinstance(inspect.getattr_static(TableManager, "recovery"), property)


def test_the_worker_is_wiring_and_its_runtime_comes_in_small_pieces() -> None:
    """Issue 17's bounds: worker.py at most 400 lines; in the runtime, no class over 300
    lines and no function over 60."""
    worker = ROOT / "engine" / "worker.py"
    assert len(worker.read_text().splitlines()) <= 400
    too_big = []
    for path, tree in [*modules("engine/runtime"), (worker, ast.parse(worker.read_text()))]:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > (300 if isinstance(node, ast.ClassDef) else 60):
                    too_big.append(f"{path.relative_to(ROOT)}: {node.name} ({lines} lines)")
    assert not too_big, too_big
