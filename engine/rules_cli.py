"""`pulse rules test FILE...`: rule unit tests, in the spirit of `promtool test rules`."""

from __future__ import annotations

import argparse
from pathlib import Path

from signals.errors import SignalsError
from signals.rulestest import run_rule_tests


def run_files(paths: list[Path], verbose: bool) -> tuple[int, int, list[str]]:
    """Run every case of every file; return (passed, failed, report lines)."""
    passed = failed = 0
    lines: list[str] = []
    for path in paths:
        base = path.parent

        def read_rules(name: str, base: Path = base) -> str:
            return (base / name).read_text(encoding="utf-8")

        try:
            results = run_rule_tests(path.read_text(encoding="utf-8"), str(path), read_rules)
        except (OSError, SignalsError) as exc:
            failed += 1
            detail = exc.strerror if isinstance(exc, OSError) else str(exc)
            lines.append(f"ERROR {path}: {detail}")
            continue
        for result in results:
            if result.passed:
                passed += 1
                if verbose:
                    lines.append(f"PASS  {path}: {result.name}")
            else:
                failed += 1
                lines.append(f"FAIL  {path}: {result.name}")
                lines.extend(f"      {line}" for line in result.diff.splitlines())
    return passed, failed, lines


def _command(args: argparse.Namespace) -> int:
    passed, failed, lines = run_files(args.files, args.verbose)
    for line in lines:
        print(line)
    print(f"rules: {passed} passed, {failed} failed")
    return 1 if failed else 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("rules", help="work with rules files")
    actions = parser.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    test = actions.add_parser(
        "test",
        help="run rule unit tests (YAML files of input events and expected triggers)",
        description="Each file gives timed input events, the triggers that must fire "
        "(rule, account, time, key evidence) and those that must not; every case is "
        "reported pass/fail with a readable diff. Exits 1 when any case fails.",
    )
    test.add_argument("files", nargs="+", type=Path)
    test.add_argument("-v", "--verbose", action="store_true", help="list passing cases too")
    test.set_defaults(func=_command)
