"""Who may connect: the secure local broker refuses clients without the right credentials,
and a Pulse worker with them works end to end (with Redis AUTH and an API token), leaking
none of its secrets into its output or its HTTP pages."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer
from aiokafka.conn import create_conn
from aiokafka.errors import (
    KafkaConnectionError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.helpers import create_ssl_context
from aiokafka.protocol.metadata import MetadataRequest
from prometheus_client.parser import text_string_to_metric_families

from engine.process import WorkerProcess
from tests.conftest import RedisServer
from tests.engine.test_worker import (
    assert_view_matches_health,
    collect,
    describe,
    expected_triggers,
    output_topics,
    produce,
    signals_env,
    simulated,
)
from topics.catalogue import TopicKind, topic_name

REFUSED_WITHIN = 15.0
"""A refused client must learn so within this many seconds (no hang, no endless retry)."""


def _host_port(env: dict[str, str]) -> tuple[str, int]:
    host, _, port = env["PULSE_KAFKA_BOOTSTRAP"].rpartition(":")
    return host, int(port)


async def _metadata(env: dict[str, str], **security: Any) -> Any:
    """One connection and one metadata request, with the given security arguments."""
    host, port = _host_port(env)
    conn = await create_conn(host, port, request_timeout_ms=5000, **security)
    try:
        return await conn.send(MetadataRequest([]))
    finally:
        conn.close()


def _ca(env: dict[str, str]) -> ssl.SSLContext:
    return create_ssl_context(cafile=env["PULSE_KAFKA_SSL_CAFILE"])


def _sasl(env: dict[str, str], user: str, password: str, mechanism: str = "SCRAM-SHA-512") -> Any:
    return {
        "security_protocol": "SASL_SSL",
        "ssl_context": _ca(env),
        "sasl_mechanism": mechanism,
        "sasl_plain_username": user,
        "sasl_plain_password": password,
    }


async def test_the_right_credentials_are_accepted(secure_env: dict[str, str]) -> None:
    password = secure_env["PULSE_KAFKA_SASL_PASSWORD"]
    response = await asyncio.wait_for(
        _metadata(secure_env, **_sasl(secure_env, "pulse", password)), REFUSED_WITHIN
    )
    host, port = _host_port(secure_env)
    assert [(b[1], b[2]) for b in response.brokers] == [(host, port)]


@pytest.mark.parametrize(
    ("case", "error", "message"),
    [
        # A TLS listener: a plaintext Kafka request is answered with a TLS alert and a close.
        ("plaintext", KafkaConnectionError, "closed"),
        # TLS with the right CA but no SASL: the broker wants a SASL handshake first.
        ("tls-without-sasl", KafkaConnectionError, "closed"),
        # The right user and password, but not over TLS.
        ("sasl-without-tls", KafkaConnectionError, "closed"),
        ("wrong-password", SaslAuthenticationFailed, "invalid credentials"),
        ("unknown-user", SaslAuthenticationFailed, "invalid credentials"),
        ("empty-password", SaslAuthenticationFailed, "invalid credentials"),
        # Only SCRAM-SHA-512 is enabled: PLAIN (password in the TLS stream) is refused.
        ("plain-mechanism", UnsupportedSaslMechanismError, ""),
        # The client does not trust a broker whose certificate its CAs did not sign.
        ("untrusted-broker", ssl.SSLCertVerificationError, "certificate verify failed"),
    ],
)
async def test_clients_without_the_right_credentials_are_refused(
    secure_env: dict[str, str], case: str, error: type[BaseException], message: str
) -> None:
    password = secure_env["PULSE_KAFKA_SASL_PASSWORD"]
    security: dict[str, Any] = {
        "plaintext": {},
        "tls-without-sasl": {"security_protocol": "SSL", "ssl_context": _ca(secure_env)},
        "sasl-without-tls": {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": "pulse",
            "sasl_plain_password": password,
        },
        "wrong-password": _sasl(secure_env, "pulse", password[::-1]),
        "unknown-user": _sasl(secure_env, "mallory", password),
        "empty-password": _sasl(secure_env, "pulse", ""),
        "plain-mechanism": _sasl(secure_env, "pulse", password, mechanism="PLAIN"),
        "untrusted-broker": {
            **_sasl(secure_env, "pulse", password),
            "ssl_context": create_ssl_context(),  # the system CAs only
        },
    }[case]
    started = time.monotonic()
    with pytest.raises(error) as refused:
        await asyncio.wait_for(_metadata(secure_env, **security), REFUSED_WITHIN)
    assert message in str(refused.value)
    assert time.monotonic() - started < REFUSED_WITHIN


async def test_a_producer_with_a_wrong_password_fails_fast_and_says_why(
    secure_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    wrong = f"wrong-{uuid.uuid4().hex}"
    producer = AIOKafkaProducer(
        bootstrap_servers=secure_env["PULSE_KAFKA_BOOTSTRAP"],
        request_timeout_ms=5000,
        **_sasl(secure_env, "pulse", wrong),
    )
    started = time.monotonic()
    try:
        with pytest.raises(KafkaConnectionError, match="Unable to bootstrap"):
            await asyncio.wait_for(producer.start(), REFUSED_WITHIN)
    finally:
        await producer.stop()
    assert time.monotonic() - started < REFUSED_WITHIN
    assert "SaslAuthenticationFailed" in caplog.text
    assert wrong not in caplog.text


def _pulse(
    env: dict[str, str], *args: str, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_commands_with_a_wrong_password_stop_with_a_clear_error_and_no_secret(
    secure_worker_factory: Callable[..., WorkerProcess],
) -> None:
    wrong = f"wrong-{uuid.uuid4().hex}"
    env = dict(secure_worker_factory(PULSE_KAFKA_SASL_PASSWORD=wrong).env)

    started = time.monotonic()
    topics = _pulse(env, "topics", "create")
    assert topics.returncode == 2, topics.stdout + topics.stderr
    assert "pulse topics: error: Kafka at" in topics.stderr
    assert "SaslAuthenticationFailed" in topics.stderr  # aiokafka's log line says why
    ran = _pulse(env, "worker", "--loglevel", "debug")
    assert ran.returncode == 2, ran.stderr[-2000:]
    assert "pulse worker: error: Kafka at" in ran.stderr
    assert time.monotonic() - started < 4 * REFUSED_WITHIN
    for output in (topics.stdout, topics.stderr, ran.stdout, ran.stderr):
        assert wrong not in output


async def _produce(kwargs: dict[str, Any], prefix: str, records: list[Any]) -> None:
    await produce(None, prefix, records, client=kwargs)


async def _collect(
    kwargs: dict[str, Any], topics: list[str], *, settle: float = 6.0, within: float = 150.0
) -> dict[str, list[bytes]]:
    return await collect(None, topics, settle=settle, within=within, client=kwargs)


@pytest.fixture
def signals_config(tmp_path: Path) -> Path:
    from engine.simulator import CORE_FEATURES

    path = tmp_path / "signals.yaml"
    path.write_text("usage:\n  core_features: [" + ", ".join(CORE_FEATURES) + "]\n")
    (tmp_path / "rules.yaml").write_text("extends: textbook\n")  # as tests/engine/test_worker
    return path


async def test_worker_over_sasl_ssl_with_redis_auth_works_and_leaks_no_secret(
    secure_worker_factory: Callable[..., WorkerProcess],
    secure_kwargs: dict[str, Any],
    signals_config: Path,
    tmp_path: Path,
) -> None:
    """Topics made with `pulse topics create`, then events in -> the replay's triggers out,
    the view in a Redis that requires AUTH, the account pages behind the token, and not
    one of the three secrets anywhere in the worker's debug-level output."""
    api_token = f"api-token-{uuid.uuid4().hex}"
    redis_password = f"redis-pw-{uuid.uuid4().hex}"
    redis = RedisServer(tmp_path, password=redis_password)
    redis.start()
    worker = secure_worker_factory(
        **signals_env(signals_config),
        PULSE_API_TOKEN=api_token,
        PULSE_REDIS_URL=redis.url,
    )
    try:
        sasl_password = worker.env["PULSE_KAFKA_SASL_PASSWORD"]
        secrets = {"SASL password": sasl_password, "Redis password": redis_password}
        secrets["API token"] = api_token
        prefix = worker.env["PULSE_TOPIC_PREFIX"]
        env = {k: v for k, v in worker.env.items() if k != "PULSE_WEB_PORT"}
        created = _pulse(env, "topics", "create")
        assert created.returncode == 0, created.stderr
        assert created.stdout.count(" created ") == len(TopicKind), created.stdout

        worker.start(loglevel="debug")
        records = simulated(accounts=8, days=21)
        await _produce(secure_kwargs, prefix, records)
        health_topic = topic_name(TopicKind.HEALTH, prefix)
        dead_topic = topic_name(TopicKind.DEAD_LETTER, prefix)
        got = await _collect(secure_kwargs, [*output_topics(prefix), health_topic, dead_topic])

        published = {
            orjson.loads(v)["trigger_id"]: orjson.loads(v)
            for t in output_topics(prefix)
            for v in got[t]
        }
        expected = expected_triggers(records, signals_config)
        assert len(expected) >= 3
        assert set(published) == set(expected), describe(published, expected)
        letters = [orjson.loads(v) for v in got[dead_topic]]
        assert [d for d in letters if d["error_kind"] != "validation"] == []

        # The view went into the password-protected Redis, and reads back through HTTP.
        await assert_view_matches_health(worker, got[health_topic], api_token)
        client = aioredis.Redis.from_url(redis.url, socket_connect_timeout=3)
        try:
            assert await client.exists(f"{worker.env['PULSE_REDIS_PREFIX']}:accounts:score")
        finally:
            await client.aclose()

        accounts = {key.decode() for _, key, _ in records if key}
        _check_http(worker, api_token, accounts, secrets)

        status, body = worker.get("/metrics")
        assert status == 200
        families = {f.name: f for f in text_string_to_metric_families(body.decode())}
        assert sum(s.value for s in families["pulse_redis_view_updates"].samples) > 0
        assert sum(s.value for s in families["pulse_redis_write_errors"].samples) == 0
    finally:
        code = worker.stop()
        redis.stop()
    assert code == 0
    output = worker.log.read_text(errors="replace")
    assert "DEBUG" in output  # the worker really logged at debug level
    assert "Authenticated as pulse via SCRAM-SHA-512" in output
    leaked = [name for name, secret in secrets.items() if secret in output]
    assert leaked == [], f"the worker's output contains the {', '.join(leaked)}"


def _check_http(
    worker: WorkerProcess, token: str, accounts: set[str], secrets: dict[str, str]
) -> None:
    """Account pages need the bearer token; health and metrics pages carry no account id."""
    account = sorted(a for a in accounts if a.startswith("acct-"))[0]
    for path in (f"/accounts/{account}", "/accounts?limit=5"):
        assert worker.get(path)[0] == 401
        assert worker.get(path, token="")[0] == 401
        assert worker.get(path, token=token[:-1])[0] == 401
        assert worker.get(path, token=token + "x")[0] == 401
        assert worker.get(path, token=token.upper())[0] == 401
        assert worker.get(path, token="t\u00f8ken")[0] == 401  # non-ASCII: 401, not 500
        assert _get_with_header(worker, path, f"Basic {token}")[0] == 401
        assert _get_with_header(worker, path, token)[0] == 401
        assert _get_with_header(worker, path, f"bearer {token}")[0] == 200
        status, body = worker.get(path, token=token)
        assert status == 200
        if path.startswith("/accounts/"):
            assert account.encode() in body
        else:  # the five worst of the accounts
            assert sum(a.encode() in body for a in accounts) == min(5, len(accounts))
    for path in ("/metrics", "/healthz", "/readyz"):
        status, body = worker.get(path)
        assert status == 200, (path, status)
        text = body.decode()
        shown = sorted(a for a in accounts if a in text)
        assert shown == [], f"{path} shows account ids {shown[:5]}"
        assert [n for n, s in secrets.items() if s in text] == []


def _get_with_header(worker: WorkerProcess, path: str, authorization: str) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{worker.port}{path}")
    request.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
