"""Every metric the alerts and the dashboard use is one a running worker exports.

A real worker (wall clock, as in production) gets a detractor NPS response (a
trigger, a health snapshot) and a malformed message (a dead letter), so that the
labelled series appear; then /metrics is scraped and compared with the names in
deploy/prometheus/alerts.yml and deploy/grafana/dashboards/pulse.json. Histograms
count by their _bucket/_sum/_count series, counters by _total.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from engine.process import WorkerProcess
from tests.ops.support import SYNTHETIC_METRICS, alert_metric_names, dashboard_metric_names
from topics.catalogue import INPUT_KINDS, TopicKind, topic_name
from topics.codec import encode
from topics.models import SurveyResponse

# Series that only appear once something happened: what the events below cause.
LABELLED = (
    "pulse_triggers_total",
    "pulse_invalid_events_total",
    "pulse_health_band_accounts",
    "pulse_consumer_lag_messages",  # reported every LAG_SECONDS
)


def scrape(worker: WorkerProcess) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> [(labels, value)] from the worker's /metrics."""
    status, body = worker.get("/metrics")
    assert status == 200, f"/metrics answered {status}"
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def scrape_until(
    worker: WorkerProcess,
    done: Callable[[dict[str, list[tuple[dict[str, str], float]]]], bool],
    within: float,
) -> dict[str, list[tuple[dict[str, str], float]]]:
    deadline = time.monotonic() + within
    samples = scrape(worker)
    while not done(samples) and time.monotonic() < deadline:
        time.sleep(0.5)
        samples = scrape(worker)
    return samples


@pytest.mark.broker
@pytest.mark.redis
async def test_worker_exports_every_metric_the_alerts_and_dashboard_use(
    kafka_bootstrap: str, worker_factory: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("extends: textbook\n")  # a detractor fires on one answer
    worker = worker_factory(PULSE_CLOCK="wall", PULSE_RULES_FILE=str(rules))
    worker.start()
    prefix = worker.env["PULSE_TOPIC_PREFIX"]
    # No rule fires on an account's first day of data: the account was seen 2 days ago.
    earlier = SurveyResponse(
        event_id="ops-nps-0",
        occurred_at=datetime.now(UTC) - timedelta(days=2),
        account_id="acct-ops-1",
        respondent_id="r0",
        score=8,
    )
    response = SurveyResponse(
        event_id="ops-nps-1",
        occurred_at=datetime.now(UTC),
        account_id="acct-ops-1",
        respondent_id="r1",
        score=2,
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for answer in (earlier, response):
            await producer.send(
                topic_name(TopicKind.FEEDBACK, prefix), encode(answer), key=b"acct-ops-1"
            )
        await producer.send(topic_name(TopicKind.USAGE, prefix), b"{not json", key=b"acct-ops-2")
        await producer.flush()
    finally:
        await producer.stop()

    samples = scrape_until(worker, lambda s: all(name in s for name in LABELLED), within=60)
    assert all(name in samples for name in LABELLED), (
        f"the worker never exported {[n for n in LABELLED if n not in samples]}:\n{worker.tail()}"
    )

    used: dict[str, set[str]] = {}
    for source, names in (
        *((f"alert {a}", n) for a, n in alert_metric_names().items()),
        *((f"panel {p!r}", n) for p, n in dashboard_metric_names().items()),
    ):
        for name in names - SYNTHETIC_METRICS:
            used.setdefault(name, set()).add(source)
    missing = {name: sorted(where) for name, where in sorted(used.items()) if name not in samples}
    assert not missing, "used by alerts or dashboard but not exported by the worker:\n" + "\n".join(
        f"  {name}  ({', '.join(where)})" for name, where in missing.items()
    )

    # The worker state gauges must be wired, not just defined: it is ready now.
    samples = scrape_until(
        worker, lambda s: [v for _, v in s.get("pulse_worker_ready", [])] == [1.0], within=30
    )
    assert [v for _, v in samples["pulse_worker_ready"]] == [1.0], "ready worker, ready gauge != 1"
    assert [v for _, v in samples["pulse_worker_recovering"]] == [0.0]
    inputs = {topic_name(kind, prefix) for kind in INPUT_KINDS}
    lag = samples["pulse_consumer_lag_messages"]
    assert all(set(labels) == {"topic", "partition"} and value >= 0 for labels, value in lag)
    assert inputs <= {labels["topic"] for labels, _ in lag}, "lag should cover every input topic"
