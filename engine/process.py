"""`pulse worker` as a child process: for the demo, the benchmarks and the test suite."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a child's web server)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class WorkerProcess:
    """A worker started with the given PULSE_* environment, logging to a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.port = int(env["PULSE_WEB_PORT"])
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, wait: float = 90, loglevel: str = "warning") -> None:
        """Start it and wait until /readyz answers 200; raise with the log's tail if not."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own CLI
                [sys.executable, "-m", "engine.cli", "worker", "--loglevel", loglevel],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                msg = f"worker exited with {self.process.returncode}:\n{self.tail()}"
                raise RuntimeError(msg)
            if self.get("/readyz")[0] == 200:
                return
            time.sleep(0.2)
        msg = f"worker not ready within {wait}s:\n{self.tail()}"
        raise RuntimeError(msg)

    def get(self, path: str, token: str | None = None) -> tuple[int, bytes]:
        """GET a path on the worker's web server: (status, body), (0, b"") if unreachable."""
        return self.request("GET", path, token=token)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """Any request to the worker's web server: (status, body), (0, b"") if unreachable."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=body, method=method, headers=headers or {}
        )
        if body is not None:
            request.add_header("Content-Type", "application/json")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except OSError:
            return 0, b""

    def events_received(self) -> float:
        """Input messages the worker has consumed so far (from /metrics)."""
        status, body = self.get("/metrics")
        if status != 200:
            return 0.0
        for family in text_string_to_metric_families(body.decode()):
            if family.name == "pulse_events_in":
                return sum(s.value for s in family.samples if s.labels.get("kind") == "received")
        return 0.0

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Stop it (SIGTERM lets it flush and leave the group); return its exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])
