"""Worker and CLI settings: `PULSE_*` environment variables and an optional TOML file.

Read once, at start, in one place; validated so that a bad setting stops the
process with one clear line naming the variable. Secrets are `SecretStr` and
never appear in `repr`, logs or error messages.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from topics.errors import PulseError

ENV_PREFIX = "PULSE_"
CONFIG_FILE_VAR = "PULSE_CONFIG_FILE"
# PULSE_* variables read by other parts (the local stack scripts, the smoke app,
# the test suite): known, so that a misspelt setting can be told apart from them.
OTHER_PULSE_VARIABLES = frozenset(
    {
        CONFIG_FILE_VAR,
        "PULSE_LOCAL_DIR",
        "PULSE_PYTHON",
        "PULSE_KAFKA_VERSION",
        "PULSE_KAFKA_PORT",
        "PULSE_KAFKA_CONTROLLER_PORT",
        "PULSE_KAFKA_START_TIMEOUT",
        "PULSE_REDIS_PORT",
        "PULSE_SECURE_KAFKA_PORT",
        "PULSE_SECURE_KAFKA_CONTROLLER_PORT",
        "PULSE_LONG_TESTS",
    }
)
_HOST_PORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


class SettingsError(PulseError):
    """A setting that cannot be used; the message names the variable."""


class Settings(BaseSettings):
    """Everything a worker or the CLI needs to reach Kafka and Redis."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="forbid", hide_input_in_errors=True
    )

    kafka_bootstrap: str = Field(
        "127.0.0.1:9092", description="comma-separated host:port list of Kafka brokers"
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    kafka_ssl_key_password: SecretStr | None = None

    topic_prefix: str = "pulse"
    topic_partitions: int = Field(6, ge=1, le=10_000)
    topic_replication_factor: int = Field(1, ge=1, le=32)

    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    redis_prefix: str = Field("pulse", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")

    app_id: str = Field("pulse", pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    """Consumer group and prefix of the worker's internal topics; one per deployment."""
    store: Literal["memory://", "rocksdb://"] = "rocksdb://"
    data_dir: Path = Path(".pulse/worker")
    table_standby_replicas: int = Field(1, ge=0, le=8)
    rules_file: Path | None = None
    signals_config_file: Path | None = None
    clock: Literal["wall", "event"] = "wall"
    """wall: now is the wall clock (production). event: now is each partition's event-time
    watermark (backfills, demos faster than real time, tests); triggers then equal a replay's."""
    tick_check_seconds: float = Field(10.0, gt=0, le=3600)
    """How often a wall-clock worker checks whether a tick boundary has passed."""
    health_publish_points: float = Field(5.0, ge=0, le=100)
    """Publish a health snapshot when the score moved this much since the last one."""
    user_park_seconds: float = Field(86_400.0, ge=0)
    """How long an event without an account yet waits for its link: a user's usage for a
    group call, a Stripe customer's billing for an event or profile naming its account."""
    state_cache_accounts: int = Field(20_000, ge=1, le=10_000_000)
    """Decoded account states a worker keeps in memory (least recently used go first;
    the table keeps them all). About 10 KB each: the main term of a worker's RSS."""
    commit_interval_seconds: float = Field(1.0, ge=0, le=300)
    """How long the accounts agent's batches are committed together: each account
    changed in that time is written to its table and changelog once, and a crashed
    worker reads at most about this much input again (0: commit every batch).
    Triggers are sent as they are made, whatever the interval. On the benchmark,
    1 s gave about 1.15 x the events/s of 0 at about the same p99 event-to-trigger;
    5 s about 1.25 x, with a p99 three times as long (docs/operations.md)."""
    max_message_bytes: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    max_future_skew_seconds: float = Field(300.0, ge=0)

    stripe_account_field: str = Field("account_id", pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    """The Stripe metadata key that holds the Pulse account id."""
    stripe_customer_accounts: dict[str, str] = Field(default_factory=dict)
    """Stripe customer id -> account id (JSON), for customers without account metadata."""
    stripe_accept_test_mode: bool = False
    """Count Stripe test-mode events (livemode: false); off, they are ignored."""

    ingest_host: str = "127.0.0.1"
    """Where `pulse ingest` (the webhook bridge) listens."""
    ingest_port: int = Field(8088, ge=1, le=65535)
    stripe_webhook_secret: SecretStr | None = None
    """The Stripe endpoint's signing secret (whsec_...); unset, /stripe answers 503."""
    stripe_signature_tolerance_seconds: float = Field(300.0, gt=0, le=3600)
    segment_webhook_secret: SecretStr | None = None
    """Shared secret of the Segment/RudderStack webhook destination; unset, /segment answers 503."""
    ingest_ack_timeout_seconds: float = Field(10.0, gt=0, le=120)
    """How long the bridge waits for the broker's ack before answering 503."""

    web_host: str = "127.0.0.1"
    web_port: int = Field(6066, ge=1, le=65535)
    api_token: SecretStr | None = None
    """Bearer token for the account endpoints; unset means they are open (loopback only)."""
    api_write_token: SecretStr | None = None
    """Bearer token for the write endpoints (commands; it reads too); unset, writes are off."""

    @property
    def stripe_options(self) -> dict[str, Any]:
        """How Stripe events on the billing topic are read: the worker, the bridge and
        every offline reader (replay, verify, evaluate, tune) pass exactly these."""
        return {
            "customer_accounts": self.stripe_customer_accounts,
            "stripe_account_field": self.stripe_account_field,
            "stripe_accept_test_mode": self.stripe_accept_test_mode,
        }

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_is_host_ports(cls, value: str) -> str:
        servers = [s.strip() for s in value.split(",") if s.strip()]
        bad = [s for s in servers if not _HOST_PORT.match(s)]
        if not servers or bad:
            msg = f"expected host:port[,host:port...], got {value!r}"
            raise ValueError(msg)
        return ",".join(servers)

    @field_validator(
        "kafka_ssl_cafile",
        "kafka_ssl_certfile",
        "kafka_ssl_keyfile",
        "rules_file",
        "signals_config_file",
    )
    @classmethod
    def _file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            msg = f"file {value} does not exist"
            raise ValueError(msg)
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: SecretStr) -> SecretStr:
        scheme = urlsplit(value.get_secret_value()).scheme
        if scheme not in {"redis", "rediss", "unix"}:
            msg = f"expected a redis://, rediss:// or unix:// URL, got scheme {scheme!r}"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _security_is_complete(self) -> Settings:
        if self.api_token is None and self.web_host not in {"127.0.0.1", "localhost", "::1"}:
            msg = (
                f"the account endpoints would be open on {self.web_host}: "
                "set PULSE_API_TOKEN, or bind PULSE_WEB_HOST to 127.0.0.1"
            )
            raise ValueError(msg)
        if (
            self.api_write_token is not None
            and self.api_token is not None
            and self.api_write_token.get_secret_value() == self.api_token.get_secret_value()
        ):
            msg = "PULSE_API_WRITE_TOKEN must differ from PULSE_API_TOKEN (read and write scopes)"
            raise ValueError(msg)
        if self.kafka_security_protocol.startswith("SASL"):
            missing = [
                name
                for name, value in (
                    ("kafka_sasl_mechanism", self.kafka_sasl_mechanism),
                    ("kafka_sasl_username", self.kafka_sasl_username),
                    ("kafka_sasl_password", self.kafka_sasl_password),
                )
                if value is None
            ]
            if missing:
                names = ", ".join(ENV_PREFIX + m.upper() for m in missing)
                msg = f"{self.kafka_security_protocol} needs {names}"
                raise ValueError(msg)
        return self

    @property
    def redis_url_redacted(self) -> str:
        """The Redis URL with any password replaced, for logs.

        redis-py also takes the password from the query (``?password=...``), so a
        password there is replaced too.
        """
        parts = urlsplit(self.redis_url.get_secret_value())
        netloc = parts.netloc
        if parts.password is not None:
            userinfo, _, hostport = netloc.rpartition("@")
            netloc = f"{userinfo.partition(':')[0]}:***@{hostport}"
        query = "&".join(
            f"{name}=***" if unquote_plus(name).lower() == "password" else f"{name}{sep}{value}"
            for name, sep, value in (pair.partition("=") for pair in parts.query.split("&"))
        )
        return urlunsplit(parts._replace(netloc=netloc, query=query if parts.query else ""))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment, then the TOML file named by PULSE_CONFIG_FILE."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_FILE_VAR)
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning any problem into one `SettingsError` that names the variable."""
    config_file = os.environ.get(CONFIG_FILE_VAR)
    if config_file and not Path(config_file).is_file():
        msg = f"{CONFIG_FILE_VAR}: file {config_file} does not exist"
        raise SettingsError(msg)
    _reject_unknown_variables()
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_url=False, include_input=False):
            field = str(error["loc"][0]) if error["loc"] else ""
            name = ENV_PREFIX + field.upper() if field else "settings"
            lines.append(f"{name}: {error['msg']}")
        raise SettingsError("; ".join(lines)) from None
    except ValueError as exc:  # a TOML file that does not parse
        msg = f"{CONFIG_FILE_VAR} ({config_file}): {exc}"
        raise SettingsError(msg) from None


def _reject_unknown_variables() -> None:
    """A misspelt PULSE_* variable is an error, not a silently ignored default."""
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    for name in sorted(os.environ):
        if not name.startswith(ENV_PREFIX) or name in known or name in OTHER_PULSE_VARIABLES:
            continue
        if name.startswith("PULSE_SMOKE_"):
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        msg = f"{name} is not a Pulse setting{hint}"
        raise SettingsError(msg)
