"""engine.gc_tuning: a worker freezes its startup objects, spaces full collections out
and exports every collector pause."""

from __future__ import annotations

import gc

from prometheus_client import CollectorRegistry

from engine import gc_tuning
from engine.metrics import Metrics


def test_a_tuned_process_freezes_spaces_full_collections_and_times_each_pause() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    threshold, callbacks = gc.get_threshold(), list(gc.callbacks)
    try:
        gc_tuning.tune(metrics.gc_pause)
        assert gc.get_freeze_count() > 1000  # this process's modules and objects
        assert gc.get_threshold() == (*threshold[:2], gc_tuning.FULL_AFTER)
        gc.collect()  # a full collection, as a worker still runs now and then
        gc.collect(0)

        def pauses(generation: str) -> float:
            value = registry.get_sample_value(
                "pulse_gc_pause_seconds_count", {"generation": generation}
            )
            return value or 0.0

        assert pauses("2") >= 1
        assert pauses("0") >= 1
        total = registry.get_sample_value("pulse_gc_pause_seconds_sum", {"generation": "2"})
        assert total is not None
        assert total > 0
    finally:
        gc.callbacks[:] = callbacks
        gc.set_threshold(*threshold)
        gc.unfreeze()
