"""Secrets stay out of reprs, redacted URLs and settings errors; the bearer check is
constant-time and total (no input makes it raise)."""

from __future__ import annotations

import hmac
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import web
from engine.kafka import client_kwargs, faust_credentials
from engine.settings import Settings, SettingsError, load_settings

SECRET = "s3cr3t-Zq9"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        (f"redis://:{SECRET}@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        (f"redis://app:{SECRET}@127.0.0.1/0", "redis://app:***@127.0.0.1/0"),
        (f"rediss://app:{SECRET}@[::1]:6380/1", "rediss://app:***@[::1]:6380/1"),
        (f"redis://:p@{SECRET}@h:1/0", "redis://:***@h:1/0"),  # '@' inside the password
        (f"redis://h:1/0?db=2&password={SECRET}", "redis://h:1/0?db=2&password=***"),
        (f"redis://h:1/0?pass%77ord={SECRET}", "redis://h:1/0?pass%77ord=***"),
        (f"unix://:{SECRET}@/run/redis.sock?db=3", "unix://:***@/run/redis.sock?db=3"),
    ],
)
def test_redis_url_is_redacted_for_logs(url: str, shown: str) -> None:
    settings = Settings(redis_url=url)
    assert settings.redis_url_redacted == shown
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings.model_dump())


@pytest.mark.parametrize(
    "environment",
    [
        {"PULSE_REDIS_URL": f"http://:{SECRET}@127.0.0.1/0"},
        {"PULSE_API_TOKEN": SECRET, "PULSE_WEB_PORT": SECRET},
        {"PULSE_KAFKA_SASL_PASSWORD": SECRET, "PULSE_KAFKA_SECURITY_PROTOCOL": SECRET},
        {"PULSE_KAFKA_SASL_PASSWORD": SECRET, "PULSE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
        {"PULSE_KAFKA_SASL_PASSWRD": SECRET},  # misspelt: named, not echoed
        {"PULSE_KAFKA_SSL_KEY_PASSWORD": SECRET, "PULSE_KAFKA_SSL_CAFILE": f"/no/{SECRET}x"},
    ],
)
def test_settings_errors_do_not_echo_secrets(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert "PULSE_" in message, message
    assert SECRET not in message.replace(f"/no/{SECRET}x", "")  # a path may be named


def test_secrets_in_a_toml_file_are_not_echoed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "pulse.toml"
    config.write_text(f'redis_url = "ftp://:{SECRET}@h/0"\napi_token = "{SECRET}"\n')
    monkeypatch.setenv("PULSE_CONFIG_FILE", str(config))
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "PULSE_REDIS_URL" in str(raised.value)
    assert SECRET not in str(raised.value)


def test_kafka_credentials_keep_the_password_out_of_their_repr(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("")  # only its existence is checked here
    settings = Settings(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="pulse",
        kafka_sasl_password=SECRET,
        api_token=SECRET,
    )
    assert client_kwargs(settings)["sasl_plain_password"] == SECRET
    credentials = faust_credentials(settings)
    assert SECRET not in repr(credentials)
    assert SECRET not in str(credentials)
    assert SECRET not in repr(settings)


TOKEN = "t0ken-With-Some-Length-0123456789"


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        (f"Bearer {TOKEN}", True),
        (f"bearer {TOKEN}", True),
        (f"BEARER  {TOKEN}", True),
        ("", False),
        ("Bearer", False),
        ("Bearer ", False),
        (TOKEN, False),
        (f"Basic {TOKEN}", False),
        (f"Bearer {TOKEN[:-1]}", False),
        (f"Bearer {TOKEN}0", False),
        (f"Bearer {TOKEN.lower()}", False),
        ("Bearer t\u00f8ken", False),
        ("Bearer \udcff\udcfe", False),  # undecodable bytes, as aiohttp surrogate-escapes them
        ("Bearer \x00", False),
    ],
)
def test_bearer_check(header: str, allowed: bool) -> None:
    assert web.bearer_authorised(header, TOKEN) is allowed
    assert web.bearer_authorised(header, None) is True  # no token configured: open


def test_bearer_check_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    compare = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(web.hmac, "compare_digest", spy)
    assert web.bearer_authorised(f"Bearer {TOKEN}x", TOKEN) is False
    assert calls == [(f"{TOKEN}x".encode(), TOKEN.encode())]


@settings(max_examples=300, deadline=None)
@given(header=st.text(max_size=80), token=st.text(min_size=1, max_size=40))
def test_bearer_check_never_raises(header: str, token: str) -> None:
    allowed = web.bearer_authorised(header, token)
    assert allowed == (
        header.partition(" ")[0].lower() == "bearer"
        and header.partition(" ")[2].strip().encode("utf-8", "surrogateescape")
        == token.encode("utf-8", "surrogateescape")
    )
