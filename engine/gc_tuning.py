"""Garbage collection for a long-running worker.

Measured in the benchmark's latency run (``make bench``, section 5: 2,239 accounts,
272 events/s on the wall clock): CPython's full (generation 2) collections came about
every 20 s, held the event loop 150 to 370 ms each, and found nothing to free. Account
states and messages hold no reference cycles, so reference counting frees them; a
full collection only walks every live object. Those pauses were the whole tail of
event-to-trigger latency.

So a worker, once built,

1. freezes what exists then (``gc.freeze``): modules, schemas, rules, the faust app,
   about 100,000 objects that live as long as the process, never scanned again;
2. runs a full collection only after ``FULL_AFTER`` collections of the middle
   generation (CPython's default is 10, and a full one also waits until a quarter of
   the long-lived objects are new). Young collections still free the short-lived
   cycles asyncio makes, as before.

Every pause is exported as ``pulse_gc_pause_seconds{generation}``, so an operator
sees what collections cost on their heap.
"""

from __future__ import annotations

import gc
import time
from typing import Any

FULL_AFTER = 1000
"""Middle-generation collections between two full ones (CPython: 10)."""


def tune(pauses: Any) -> None:
    """Freeze the objects alive now, space full collections out, time every one.

    ``pauses`` is a Prometheus histogram labelled by ``generation``."""
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_AFTER)
    by_generation = [pauses.labels(generation=str(g)) for g in range(3)]
    started = 0.0

    def observe(phase: str, info: dict[str, int]) -> None:
        nonlocal started
        if phase == "start":
            started = time.perf_counter()
        else:
            by_generation[info["generation"]].observe(time.perf_counter() - started)

    gc.callbacks.append(observe)
