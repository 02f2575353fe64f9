"""The worker's faust app built from Pulse's settings: faust's tuning knobs in one place."""

from __future__ import annotations

from faust.sensors.prometheus import setup_prometheus_sensors
from prometheus_client import CollectorRegistry

from engine.kafka import faust_credentials
from engine.settings import Settings
from engine.transport.faust_app import PulseApp

STREAM_BUFFER = 1024
FETCH_BYTES = 128 * 1024
POLL_RECORDS = 500


def build_app(settings: Settings, registry: CollectorRegistry) -> PulseApp:
    """The worker's faust app, its Prometheus sensors registered in ``registry``."""
    s = settings
    app = PulseApp(
        s.app_id,
        broker=[f"kafka://{server}" for server in s.kafka_bootstrap.split(",")],
        broker_credentials=faust_credentials(s),
        store=s.store,
        datadir=str(s.data_dir),
        topic_partitions=s.topic_partitions,
        topic_replication_factor=s.topic_replication_factor,
        table_standby_replicas=s.table_standby_replicas,
        web_enabled=True,
        web_host=s.web_host,
        web_port=s.web_port,
        web_bind=s.web_host,
        web_tables_enabled=False,
        # A short queue between the fetcher and the agent: with the event clock, a
        # watermark announced on an internal topic waits behind everything queued
        # (faust's default, 4,096 per agent plus whole fetches, held the clock
        # tens of seconds behind on a backlog).
        stream_buffer_maxsize=STREAM_BUFFER,
        broker_max_poll_records=POLL_RECORDS,
        producer_max_request_size=2 * s.max_message_bytes + 65536,
        # Small fetches per partition, so that topics read side by side interleave
        # (a 2 MB fetch of the usage topic starved the others for seconds, holding
        # the event clock); the broker still returns a larger message whole (KIP-74).
        consumer_max_fetch_size=FETCH_BYTES,
    )
    setup_prometheus_sensors(app, pattern="/metrics", registry=registry)
    return app
