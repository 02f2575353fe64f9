"""Settings: validated at start, errors name the variable, secrets never printed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.kafka import client_kwargs
from engine.settings import Settings, SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PULSE_"):
            monkeypatch.delenv(name)


def test_defaults_reach_the_local_stack() -> None:
    settings = load_settings()
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert client_kwargs(settings) == {
        "bootstrap_servers": "127.0.0.1:9092",
        "security_protocol": "PLAINTEXT",
    }


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "PULSE_TOPIC_PARTITIONS",
            "zero",
            "PULSE_TOPIC_PARTITIONS: Input should be a valid integer",
        ),
        ("PULSE_TOPIC_PARTITIONS", "0", "PULSE_TOPIC_PARTITIONS: Input should be greater than"),
        (
            "PULSE_KAFKA_BOOTSTRAP",
            "kafka",
            "PULSE_KAFKA_BOOTSTRAP: Value error, expected host:port",
        ),
        ("PULSE_KAFKA_SECURITY_PROTOCOL", "TLS", "PULSE_KAFKA_SECURITY_PROTOCOL: Input should be"),
        ("PULSE_REDIS_URL", "http://x:1", "PULSE_REDIS_URL: Value error, expected a redis://"),
        ("PULSE_KAFKA_SSL_CAFILE", "/nonexistent/ca.pem", "file /nonexistent/ca.pem does not"),
        ("PULSE_KAFKA_BOOTSTRAPS", "h:1", "did you mean PULSE_KAFKA_BOOTSTRAP?"),
    ],
)
def test_bad_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert expected in str(raised.value)


def test_sasl_needs_credentials_and_keeps_them_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    with pytest.raises(SettingsError, match="PULSE_KAFKA_SASL_PASSWORD"):
        load_settings()
    monkeypatch.setenv("PULSE_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("PULSE_KAFKA_SASL_USERNAME", "pulse")
    monkeypatch.setenv("PULSE_KAFKA_SASL_PASSWORD", "s3cr3t-kafka")
    monkeypatch.setenv("PULSE_REDIS_URL", "redis://:s3cr3t-redis@127.0.0.1:6379/0")
    settings = load_settings()

    assert "s3cr3t" not in repr(settings)
    assert "s3cr3t" not in str(settings)
    assert settings.redis_url_redacted == "redis://:***@127.0.0.1:6379/0"
    assert client_kwargs(settings)["sasl_plain_password"] == "s3cr3t-kafka"


def test_toml_file_is_read_and_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "pulse.toml"
    config.write_text('topic_prefix = "acme"\ntopic_partitions = 12\n')
    monkeypatch.setenv("PULSE_CONFIG_FILE", str(config))
    monkeypatch.setenv("PULSE_TOPIC_PARTITIONS", "3")
    settings = load_settings()
    assert (settings.topic_prefix, settings.topic_partitions) == ("acme", 3)


def test_missing_or_broken_config_file_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PULSE_CONFIG_FILE", str(tmp_path / "absent.toml"))
    missing = r"PULSE_CONFIG_FILE: file .*absent\.toml does not exist"
    with pytest.raises(SettingsError, match=missing):
        load_settings()
    broken = tmp_path / "broken.toml"
    broken.write_text("topic_prefix = \n")
    monkeypatch.setenv("PULSE_CONFIG_FILE", str(broken))
    with pytest.raises(SettingsError, match="PULSE_CONFIG_FILE"):
        load_settings()


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.topic_prefix = "other"  # type: ignore[misc]


def test_the_write_token_must_differ_from_the_read_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_API_TOKEN", "same-token-0123")
    monkeypatch.setenv("PULSE_API_WRITE_TOKEN", "same-token-0123")
    with pytest.raises(SettingsError, match="PULSE_API_WRITE_TOKEN must differ"):
        load_settings()
    monkeypatch.setenv("PULSE_API_WRITE_TOKEN", "other-token-4567")
    assert load_settings().api_write_token is not None
