"""Fixtures of the fault tests: the worker tests' signals configuration, a private broker."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.test_worker import signals_config  # noqa: F401 - a fixture, shared
from tests.faults.harness import PrivateKafka


@pytest.fixture
def private_kafka(tmp_path: Path) -> Iterator[PrivateKafka]:
    """A broker and Redis of this test's own (deploy/local/stack.sh), stopped afterwards."""
    stack = PrivateKafka(tmp_path / "stack")
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
