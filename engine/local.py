"""`pulse local up|down|status|secure-up|secure-down|secure-status`: the local stack.

A thin wrapper over ``deploy/local/stack.sh`` so that developers, CI and the
demo start the same broker the same way.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

STACK_SCRIPT = Path(__file__).resolve().parent.parent / "deploy" / "local" / "stack.sh"


def run_stack(action: str) -> int:
    """Run the stack script with this interpreter for its readiness probe."""
    if not STACK_SCRIPT.is_file():
        print(
            f"pulse local: error: {STACK_SCRIPT} not found; 'pulse local' runs from a source "
            "checkout (pip install -e .)",
            file=sys.stderr,
        )
        return 2
    env = dict(os.environ)
    env.setdefault("PULSE_PYTHON", sys.executable)
    return subprocess.call(["bash", str(STACK_SCRIPT), action], env=env)  # noqa: S603,S607


def _command(args: argparse.Namespace) -> int:
    return run_stack(args.action)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "local",
        help="start, stop or inspect the local Kafka broker and Redis",
        description="Local single-node Kafka (KRaft) and Redis under .pulse/ "
        "(PULSE_LOCAL_DIR). Ports: PULSE_KAFKA_PORT, PULSE_KAFKA_CONTROLLER_PORT, "
        "PULSE_REDIS_PORT. secure-up starts a second, separate broker that accepts only "
        "SASL_SSL (SCRAM-SHA-512, TLS with a CA it generates) on PULSE_SECURE_KAFKA_PORT "
        "(9192; controller PULSE_SECURE_KAFKA_CONTROLLER_PORT, 9193) and writes the client "
        "settings to .pulse/kafka-secure/client.env.",
    )
    parser.add_argument(
        "action", choices=["up", "down", "status", "secure-up", "secure-down", "secure-status"]
    )
    parser.set_defaults(func=_command)
