"""Rolling per-account metrics, registered by name (see ``registry``)."""

from signals.metrics import commercial, key_users, lifecycle, peers, support, usage, windows
from signals.metrics.registry import (
    CONTINUOUS,
    METRIC_READS,
    METRICS,
    Metric,
    evaluate,
    forget,
    memoised,
)

__all__ = [
    "CONTINUOUS",
    "METRICS",
    "METRIC_READS",
    "Metric",
    "commercial",
    "evaluate",
    "forget",
    "key_users",
    "lifecycle",
    "memoised",
    "peers",
    "support",
    "usage",
    "windows",
]
