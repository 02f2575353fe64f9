"""The webhook bridge against the real broker: signatures, idempotency, batches, original bytes."""

from __future__ import annotations

import time

import orjson
import pytest

from tests.conftest import TopicFactory
from tests.engine.ingest.bridge_support import (
    read_all,
    running_bridge,
    segment_headers,
    stripe_headers,
)
from tests.topics import payloads

pytestmark = pytest.mark.broker


def _stripe_body(event_id: str = "evt_bridge_1") -> bytes:
    return orjson.dumps(payloads.stripe_invoice() | {"id": event_id})


async def test_a_signed_stripe_event_lands_with_its_original_bytes_keyed_by_account(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    billing, usage = await topic_factory("billing"), await topic_factory("usage")
    body = _stripe_body()
    async with running_bridge(kafka_bootstrap, billing, usage) as (http, url):
        answer = await http.post(url + "stripe", data=body, headers=stripe_headers(body))
        assert answer.status == 200
    records = await read_all(kafka_bootstrap, billing, 1)
    assert [(r.key, r.value) for r in records] == [(b"acme", body)]


async def test_tampered_expired_and_replayed_signatures_get_401_and_nothing_is_produced(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    billing, usage = await topic_factory("billing"), await topic_factory("usage")
    body = _stripe_body()
    good = stripe_headers(body)
    async with running_bridge(kafka_bootstrap, billing, usage) as (http, url):
        tampered = body.replace(b"125000", b"1")
        refused = [
            await http.post(url + "stripe", data=tampered, headers=good),
            await http.post(
                url + "stripe", data=body, headers=stripe_headers(body, t=int(time.time()) - 600)
            ),
            await http.post(url + "stripe", data=body, headers={}),
        ]
        assert [r.status for r in refused] == [401, 401, 401]
        assert (await http.post(url + "stripe", data=body, headers=good)).status == 200
        replayed = await http.post(url + "stripe", data=body, headers=good)
        assert replayed.status == 401
        metrics = await (await http.get(url + "metrics")).text()
    assert 'pulse_ingest_bad_signatures_total{reason="mismatch",source="stripe"} 1.0' in metrics
    assert 'pulse_ingest_bad_signatures_total{reason="replayed",source="stripe"} 1.0' in metrics
    records = await read_all(kafka_bootstrap, billing, 1)
    assert [r.value for r in records] == [body]


async def test_a_retried_event_is_produced_once(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    billing, usage = await topic_factory("billing"), await topic_factory("usage")
    body = _stripe_body("evt_retried")
    async with running_bridge(kafka_bootstrap, billing, usage) as (http, url):
        for delay in (0, 1, 2):  # Stripe signs each retry anew
            headers = stripe_headers(body, t=int(time.time()) - delay)
            assert (await http.post(url + "stripe", data=body, headers=headers)).status == 200
    records = await read_all(kafka_bootstrap, billing, 1)
    assert len(records) == 1


async def test_a_segment_batch_is_split_and_a_wrong_secret_refused(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    billing, usage = await topic_factory("billing"), await topic_factory("usage")
    calls = [payloads.segment_track(messageId=f"m{i}") for i in range(3)]
    batch = orjson.dumps({"batch": calls, "context": {"groupId": "acme"}})
    single = orjson.dumps(payloads.segment_track(messageId="solo"))
    async with running_bridge(kafka_bootstrap, billing, usage) as (http, url):
        wrong = segment_headers() | {"Authorization": "Bearer nope"}
        assert (await http.post(url + "segment", data=batch, headers=wrong)).status == 401
        assert (
            await http.post(url + "segment", data=batch, headers=segment_headers())
        ).status == 200
        assert (
            await http.post(url + "rudderstack", data=single, headers=segment_headers())
        ).status == 200
        assert (
            await http.post(url + "segment", data=b"[1]", headers=segment_headers())
        ).status == 400
    records = await read_all(kafka_bootstrap, usage, 4)
    ids = sorted(orjson.loads(r.value)["messageId"] for r in records)
    assert ids == ["m0", "m1", "m2", "solo"]
    assert next(r.value for r in records if b"solo" in r.value) == single
