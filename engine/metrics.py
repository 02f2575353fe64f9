"""Pulse's own Prometheus metrics, beside faust's sensors.

Names follow Prometheus conventions: base units (seconds), `_total` for
counters. One `Metrics` per registry so tests can read a fresh set.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from topics.models import COMMAND_TYPES, FeedbackVerdict

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600)


class Metrics:
    """Every metric the engine exports, registered on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.events_in = Counter(
            "pulse_events_in_total", "Input messages consumed", ["topic", "kind"], registry=registry
        )
        self.invalid_events = Counter(
            "pulse_invalid_events_total",
            "Input messages sent to the dead-letter topic",
            ["reason"],
            registry=registry,
        )
        self.ignored_events = Counter(
            "pulse_ignored_events_total",
            "Well-formed input messages Pulse deliberately does not use (not dead-lettered)",
            ["topic", "type"],
            registry=registry,
        )
        self.event_to_trigger = Histogram(
            "pulse_event_to_trigger_latency_seconds",
            "From the event's own timestamp to the trigger being published",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.ingest_to_trigger = Histogram(
            "pulse_ingest_to_trigger_latency_seconds",
            "From the input message's Kafka timestamp to the trigger being published",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.triggers = Counter(
            "pulse_triggers_total", "Triggers published", ["rule", "kind"], registry=registry
        )
        self.cancellations = Counter(
            "pulse_cancellations_total",
            "Cancellation records published (the outcomes topic): paid churn or trial lapse, "
            "and whether a churn-risk alert had paged someone before (warned yes or no)",
            ["churn", "warned"],
            registry=registry,
        )
        self.commands_applied = Counter(
            "pulse_commands_applied_total",
            "Commands applied to accounts (overrides, snoozes, feedback), by type",
            ["type"],
            registry=registry,
        )
        self.triggers_suppressed = Counter(
            "pulse_triggers_suppressed_total",
            "Triggers a CSM's snooze held back (once per stretch of the condition holding)",
            ["rule"],
            registry=registry,
        )
        self.trigger_feedback = Counter(
            "pulse_trigger_feedback_total",
            "CSM feedback on triggers, by rule and verdict (not_useful and false_alarm count "
            "against the rule)",
            ["rule", "verdict"],
            registry=registry,
        )
        self.api_writes = Counter(
            "pulse_api_writes_total",
            "HTTP writes (commands) by endpoint and outcome: accepted, unauthorised, "
            "forbidden, wrong_deployment, invalid, unknown_account, unknown_trigger, "
            "unavailable",
            ["endpoint", "outcome"],
            registry=registry,
        )
        self.accounts_in_state = Gauge(
            "pulse_accounts_in_state", "Accounts this worker holds state for", registry=registry
        )
        self.health_band_accounts = Gauge(
            "pulse_health_band_accounts", "Accounts per health band", ["band"], registry=registry
        )
        self.timer_sweep = Histogram(
            "pulse_timer_sweep_duration_seconds",
            "Duration of one sweep of absence and calendar rules",
            registry=registry,
        )
        self.redis_write_errors = Counter(
            "pulse_redis_write_errors_total",
            "Failed writes of the Redis account view (retried)",
            registry=registry,
        )
        self.redis_writes = Counter(
            "pulse_redis_view_updates_total",
            "Account view updates written to Redis",
            registry=registry,
        )
        self.redis_view_rebuilds = Counter(
            "pulse_redis_view_rebuilds_total",
            "Times this worker found the Redis view empty (Redis restarted or flushed, "
            "or the worker started) and rewrote its accounts' views from its store",
            registry=registry,
        )
        self.redis_views_rebuilt = Counter(
            "pulse_redis_views_rebuilt_total",
            "Account views rewritten from the store after the Redis view was found empty",
            registry=registry,
        )
        self.redis_pending = Gauge(
            "pulse_redis_view_pending_updates",
            "Account views waiting to be written to Redis",
            registry=registry,
        )
        self.redis_lag = Gauge(
            "pulse_redis_view_lag_seconds",
            "Age of the oldest account view not yet written to Redis",
            registry=registry,
        )
        # Worker state for the alerts and dashboard in deploy/ (docs/operations.md).
        self.consumer_lag = Gauge(
            "pulse_consumer_lag_messages",
            "Messages after the committed offset, per source partition this worker owns",
            ["topic", "partition"],
            registry=registry,
        )
        self.worker_ready = Gauge(
            "pulse_worker_ready",
            "1 while /readyz answers 200: partitions assigned, no rebalance, recovery done",
            registry=registry,
        )
        self.worker_recovering = Gauge(
            "pulse_worker_recovering",
            "1 while table recovery (restoring state from the changelogs) is under way",
            registry=registry,
        )
        self.input_skipped = Counter(
            "pulse_input_skipped_total",
            "Input records not processed: 'seen' (delivered again, processed before), "
            "'revoked' (the partition moved to another worker), 'deleted' (retention "
            "deleted them before this group read them)",
            ["topic", "why"],
            registry=registry,
        )
        self.input_refetched = Counter(
            "pulse_input_refetched_total",
            "Input records faust's consumer skipped, read again by the worker's own client "
            "and processed in order (engine.transport.inorder)",
            ["topic"],
            registry=registry,
        )
        self.input_stranded = Counter(
            "pulse_input_stranded_total",
            "Seeks back to a partition's next unprocessed offset: records were on the "
            "broker but reached no agent (engine.transport.inorder.Stranded)",
            ["topic"],
            registry=registry,
        )
        self.gc_pause = Histogram(
            "pulse_gc_pause_seconds",
            "Pauses of Python's cycle collector, by generation (engine.gc_tuning)",
            ["generation"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=registry,
        )
        self.event_clock = Gauge(
            "pulse_event_clock_timestamp_seconds",
            "Event-time clock of each agent partition this worker owns (event clock only)",
            ["agent", "partition"],
            registry=registry,
        )

    def start_at_zero(self, rule_ids: Iterable[str]) -> None:
        """Export the rules' suppression and feedback series, and the command types, at 0
        from the start: a rate over a series that appears at its first increment misses
        that increment, and dashboards show nothing rather than zero."""
        for rule in rule_ids:
            self.triggers_suppressed.labels(rule=rule)
            for verdict in get_args(FeedbackVerdict):
                self.trigger_feedback.labels(rule=rule, verdict=verdict)
        for churn in ("paid", "trial"):
            for warned in ("yes", "no"):
                self.cancellations.labels(churn=churn, warned=warned)
        for model in COMMAND_TYPES:
            self.commands_applied.labels(type=model.model_fields["type"].default)
