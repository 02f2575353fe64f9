"""Fixtures of the signals tests: a default configuration, a state folder and fresh state."""

from __future__ import annotations

import pytest

from signals.config import SignalsConfig, UsageMapping
from signals.core import SignalProcessor
from signals.ingest import StateFolder
from signals.rules import default_rules
from signals.state import AccountState
from tests.signals.factories import ACCOUNT

CORE = ("Report Exported", "Dashboard Shared", "Alert Created", "Query Run", "Export Scheduled")


@pytest.fixture
def config() -> SignalsConfig:
    """Defaults, plus five core features so adoption has a denominator."""
    return SignalsConfig(usage=UsageMapping(core_features=CORE))


@pytest.fixture
def folder(config: SignalsConfig) -> StateFolder:
    return StateFolder(config)


@pytest.fixture
def state() -> AccountState:
    return AccountState(ACCOUNT)


@pytest.fixture
def processor(config: SignalsConfig) -> SignalProcessor:
    return SignalProcessor(config, default_rules())
