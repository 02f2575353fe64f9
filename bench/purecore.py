"""The pure core on the population: decode, validate and run the signals core, no Kafka.

The same events the worker reads, decoded from their bytes (``topics.codec``, every
shape and fault) and replayed through ``signals.replay`` (per-account state, user
resolution, rules, health, daily ticks), on one core. Rates are in this process's CPU
time, so other load on the machine skews them less than wall time would.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench import core
from engine.envelope import Published, pack
from engine.simulator import CORE_FEATURES
from engine.simulator.generator import Record
from signals.config import SignalsConfig, UsageMapping
from signals.replay import replay
from signals.rules import default_rules
from topics.codec import decode_input
from topics.errors import PulseValidationError
from topics.models import InputEvent

CONFIG = SignalsConfig(usage=UsageMapping(core_features=CORE_FEATURES))
"""What ``pulse demo`` and the suite's workers run with (engine.demo.worker_env)."""


def core_on(records: list[Record]) -> dict[str, Any]:
    """Decode + validation + signals core over ``records``; also state bytes per account."""
    rules = default_rules()
    started = time.process_time()
    events: list[tuple[str, InputEvent]] = []
    invalid = 0
    for record in records:
        try:
            events.append((record.kind.value, decode_input(record.kind, record.value)))
        except PulseValidationError:
            invalid += 1
    decoded = time.process_time()
    result = replay(events, CONFIG, rules)
    finished = time.process_time()
    # What a worker stores per account (engine.envelope: compressed), and the core's JSON.
    sizes = sorted(len(pack(Published(), state)) for state in result.states.values())
    plain = [len(state.to_bytes()) for state in result.states.values()]
    total = finished - started
    return {
        "events": len(records),
        "invalid": invalid,
        "cpu_s": round(total, 3),
        "events_per_s": round(len(records) / total),
        "decode_events_per_s": round(len(records) / max(decoded - started, 1e-9)),
        "signals_events_per_s": round(len(events) / max(finished - decoded, 1e-9)),
        "triggers": sum(result.summary.triggers_by_rule.values()),
        "state_bytes": {
            "accounts": len(sizes),
            "mean": round(statistics.fmean(sizes)) if sizes else None,
            "p50": sizes[len(sizes) // 2] if sizes else None,
            "p95": sizes[int(0.95 * len(sizes))] if sizes else None,
            "max": sizes[-1] if sizes else None,
            "json_mean": round(statistics.fmean(plain)) if plain else None,
        },
    }


def typical_account(repeat: int) -> dict[str, Any]:
    """bench.core's figure: decode + SignalProcessor.apply for one typical account."""
    events = core.account_events(users=30, days=60, per_user_day=5)
    messages = [(event.type, core.encode(event)) for event in events]
    best = core.best_of(lambda: core.decode_and_process(messages), repeat=repeat)
    return {"events": len(messages), "events_per_s": round(len(messages) / best)}
