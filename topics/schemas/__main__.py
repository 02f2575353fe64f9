"""`python -m topics.schemas [--check] [DIR]`: write the schemas, or fail if they drifted."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from topics.schemas import SCHEMA_DIR, check, export


def main(argv: list[str] | None = None) -> int:
    """Run the command; the exit status is 1 when `--check` finds drift."""
    parser = argparse.ArgumentParser(prog="python -m topics.schemas", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("directory", nargs="?", type=Path, default=SCHEMA_DIR)
    args = parser.parse_args(argv)
    if args.check:
        drifted = check(args.directory)
        for name in drifted:
            print(f"drifted: {args.directory / name}", file=sys.stderr)
        if drifted:
            print("run `python -m topics.schemas` to regenerate", file=sys.stderr)
        return 1 if drifted else 0
    for path in export(args.directory):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
