"""Every setting of Trado, read from the environment and `.env` (the only reader of either).

`example.env` lists each one with its default and meaning. A bad value stops start-up with one
line naming the setting (see `load_settings`), never a traceback.
"""

from __future__ import annotations

import os
import secrets
import sys
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AnyUrl,
    Field,
    SecretStr,
    TypeAdapter,
    UrlConstraints,
    ValidationError,
    WebsocketUrl,
    field_validator,
    model_validator,
)
from pydantic_core import MultiHostUrl
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_JWT_SECRET_LENGTH = 32  # characters: 256 bits or more of key for HS256
ROOT = Path(__file__).resolve().parent
PositiveRate = Annotated[float, Field(gt=0, le=1_000_000)]
Url = TypeVar("Url")

# What each URL setting must be, as pydantic's network types (whose messages say what is
# wrong); the validators add only what these cannot say. The settings stay the strings written.
_DATABASE_URL_TYPE: TypeAdapter[MultiHostUrl] = TypeAdapter(
    Annotated[
        MultiHostUrl,
        UrlConstraints(
            allowed_schemes=["postgres", "postgresql", "postgresql+asyncpg", "sqlite+aiosqlite"]
        ),
    ]
)
_REDIS_URL_TYPE: TypeAdapter[AnyUrl] = TypeAdapter(
    Annotated[AnyUrl, UrlConstraints(allowed_schemes=["redis", "rediss"], host_required=True)]
)
_KAFKA_SERVER_TYPE: TypeAdapter[AnyUrl] = TypeAdapter(  # pydantic's KafkaDsn has defaults
    Annotated[AnyUrl, UrlConstraints(allowed_schemes=["kafka"], host_required=True)]
)
_WEBSOCKET_URL_TYPE: TypeAdapter[WebsocketUrl] = TypeAdapter(WebsocketUrl)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    environment: Literal["development", "test", "production"] = "development"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] | None = None
    # Traces over OTLP/HTTP (commands/tracing.py), off unless an endpoint is set: the standard
    # OpenTelemetry variables, read here so that .env files and validation cover them too.
    otel_exporter_otlp_endpoint: str | None = Field(None, pattern=r"^https?://\S+$")
    otel_exporter_otlp_traces_endpoint: str | None = Field(None, pattern=r"^https?://\S+$")
    otel_service_name: str | None = Field(None, min_length=1, max_length=100)
    otel_traces_sampler: Literal[
        "always_on",
        "always_off",
        "traceidratio",
        "parentbased_always_on",
        "parentbased_always_off",
        "parentbased_traceidratio",
    ] = "parentbased_always_on"
    otel_traces_sampler_arg: float = Field(1.0, ge=0.0, le=1.0)
    otel_sdk_disabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    websocket_protocol: Literal["direct", "websockets-sansio", "websockets"] = "direct"
    api_processes: int = Field(1, ge=1, le=64)
    event_stream_route: str = Field("", pattern=r"^[A-Za-z0-9]{0,16}$")

    database_url: str = f"sqlite+aiosqlite:///{ROOT / '.data' / 'trado.db'}"
    database_pool_size: int = Field(10, ge=1, le=200)
    database_sync_standbys: int = Field(0, ge=0, le=10)
    redis_url: str | None = None
    redis_key_prefix: str = "trado:"
    redis_cluster: bool = False  # REDIS_URL is a node of a Redis Cluster (sharded pub/sub)
    redis_replica_wait_ms: int = Field(0, ge=0, le=60_000)  # cluster: WAIT 1 per batch
    redis_max_connections: int = Field(16, ge=1, le=10_000)
    redis_pool_timeout_seconds: float = Field(5.0, gt=0, le=300)
    kafka_bootstrap_servers: str | None = None
    kafka_ticks_topic: str = "ticks"
    kafka_bridge_group: str = "trado-bridge"
    kafka_session_timeout_ms: int = Field(10_000, ge=6000, le=300_000)
    kafka_producer_linger_ms: int = Field(5, ge=0, le=1000)
    kafka_ticks_partitions: int = Field(3, ge=1, le=10_000)
    kafka_replication_factor: int = Field(1, ge=1, le=15)
    kafka_min_insync_replicas: int = Field(1, ge=1, le=15)

    run_feed_in_process: bool | None = None
    feed: Literal["simulator", "provider"] = "simulator"
    simulator_ticks_per_second: PositiveRate = 200.0
    simulator_seed: int | None = None
    instruments_file: Path = ROOT / "data" / "instruments.csv"
    market_hours: Literal["always", "calendar"] = "always"
    market_pre_minutes: int = Field(330, ge=0, le=720)
    market_post_minutes: int = Field(240, ge=0, le=720)
    bridge_flush_interval_ms: int = Field(100, ge=0, le=10_000)
    bridge_max_backlog_ticks: int = Field(200_000, ge=1000, le=10_000_000)
    feed_buffer_ticks: int = Field(100_000, ge=1, le=10_000_000)
    provider: Literal["finnhub", "alpaca", "polygon", "binance"] = "finnhub"
    provider_url: str | None = None
    provider_symbols: str = ""
    alpaca_key_id: SecretStr | None = None
    alpaca_secret_key: SecretStr | None = None
    alpaca_feed: Literal["iex", "sip", "delayed_sip", "test"] = "iex"
    polygon_api_key: SecretStr | None = None
    binance_rest_url: str = "https://api.binance.com"
    binance_depth_interval_ms: Literal[100, 1000] = 1000
    metrics_port: int | None = Field(None, ge=1, le=65535)

    jwt_secret: SecretStr | None = None
    jwt_expire_minutes: int = Field(60 * 24, ge=1, le=60 * 24 * 30)
    starting_cash: Decimal = Field(Decimal("100000"), ge=0, max_digits=20, decimal_places=4)
    password_hash_workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=64)
    password_hashes_per_address: int = Field(1, ge=1, le=1000)
    login_failures_per_account: int = Field(5, ge=1, le=1_000_000)
    login_failure_window_seconds: int = Field(15 * 60, ge=1, le=24 * 3600)
    login_attempts_per_address: int = Field(20, ge=1, le=1_000_000)
    login_address_window_seconds: int = Field(60, ge=1, le=24 * 3600)
    registrations_per_account: int = Field(3, ge=1, le=1_000_000)
    registrations_per_address: int = Field(10, ge=1, le=1_000_000)
    registration_window_seconds: int = Field(3600, ge=1, le=24 * 3600)
    forwarded_for_trusted_hops: int = Field(0, ge=0, le=10)

    max_query_depth: int = Field(12, ge=1, le=100)
    max_query_tokens: int = Field(2000, ge=10)
    max_aliases: int = Field(30, ge=1)
    max_query_cost: int = Field(100_000, ge=1)
    max_string_length: int = Field(1000, ge=1)
    max_page_size: int = Field(100, ge=1, le=1000)
    max_request_bytes: int = Field(64 * 1024, ge=1024)
    max_symbols_per_subscription: int = Field(100, ge=1)
    max_subscriptions_per_connection: int = Field(50, ge=1)
    subscriber_buffer_messages: int = Field(256, ge=1, le=100_000)
    history_max_messages: int = Field(1000, ge=1, le=1_000_000)
    history_max_age_seconds: float = Field(600.0, gt=0, le=7 * 24 * 3600)
    simulated_depth: bool = True
    connection_init_timeout_seconds: float = Field(10.0, gt=0, le=300)
    websocket_ping_interval_seconds: float = Field(20.0, ge=0, le=3600)
    websocket_ping_timeout_seconds: float = Field(20.0, gt=0, le=3600)
    persisted_queries: Literal["automatic", "allow-list", "off"] = "automatic"
    persisted_queries_file: Path | None = None
    persisted_query_ttl_seconds: int = Field(7 * 24 * 3600, ge=60)

    live_stale_after_seconds: float = Field(5.0, gt=0, le=24 * 3600)
    live_stale_fails_readiness: bool = False
    readiness_check_interval_seconds: float = Field(1.0, gt=0, le=60)
    readiness_check_timeout_seconds: float = Field(2.0, gt=0, le=60)
    readiness_failures_before_down: int = Field(2, ge=1, le=100)
    service_unavailable_retry_after_seconds: int = Field(5, ge=1, le=3600)

    # What the API tells about itself. Unset: on in development, off in test and production.
    graphiql: bool | None = None
    introspection: bool | None = None
    api_docs: bool | None = None
    metrics_endpoint: bool | None = None
    behind_tls: bool = False

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        """PostgreSQL needs a host, and is reached through asyncpg."""
        url = _parsed(_DATABASE_URL_TYPE, value)
        if url.scheme == "sqlite+aiosqlite":
            return value
        if not url.hosts():
            raise ValueError("has no host")
        return "postgresql+asyncpg:" + value.partition(":")[2]

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        return _checked(_REDIS_URL_TYPE, value, "must look like redis://host:port/db")

    @field_validator("provider_url")
    @classmethod
    def _provider_url(cls, value: str | None) -> str | None:
        return check_websocket_url(value) if value else None

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _kafka_servers(cls, value: str | None) -> str | None:
        """host:port[,host:port...]: each server read as a kafka:// URL that is no more."""
        if not value:
            return None
        for server in value.split(","):
            wrong = f"{server.strip()!r} is not host:port"
            url = _parsed(_KAFKA_SERVER_TYPE, f"kafka://{server.strip()}", wrong)
            if url.username or not url.port or url.path or url.query or url.fragment:
                raise ValueError(wrong)
        return value

    @model_validator(mode="after")
    def _min_insync_within_replicas(self) -> Settings:
        """More in-sync replicas required than copies exist: Kafka would refuse every tick."""
        if self.kafka_min_insync_replicas > self.kafka_replication_factor:
            raise ValueError(
                "KAFKA_MIN_INSYNC_REPLICAS must not exceed KAFKA_REPLICATION_FACTOR "
                f"({self.kafka_min_insync_replicas} > {self.kafka_replication_factor})"
            )
        return self

    @model_validator(mode="after")
    def _allow_list_needs_its_file(self) -> Settings:
        if self.persisted_queries == "allow-list" and self.persisted_queries_file is None:
            raise ValueError("PERSISTED_QUERIES=allow-list needs PERSISTED_QUERIES_FILE")
        return self

    @model_validator(mode="after")
    def _api_processes_need_full_mode(self) -> Settings:
        """Several API processes share nothing but Redis and PostgreSQL: embedded mode's
        memory pub/sub, simulator and bridge would run once per process (ticks generated and
        numbered K times, subscribers of one process never seeing another's), and a
        development signing key made per process would refuse the other processes' tokens."""
        if self.api_processes == 1:
            return self
        if self.redis_url is None or self.feed_in_process or self.uses_sqlite:
            raise ValueError(
                "API_PROCESSES > 1 needs full mode (REDIS_URL, KAFKA_BOOTSTRAP_SERVERS and a "
                "PostgreSQL DATABASE_URL, feed and bridge in their own processes): embedded "
                "mode runs the simulator, bridge and pub/sub inside the one API process"
            )
        if self.jwt_secret is None:
            raise ValueError("API_PROCESSES > 1 needs JWT_SECRET: every process must sign alike")
        return self

    @model_validator(mode="after")
    def _production_needs_a_secret(self) -> Settings:
        if self.environment == "production" and self.jwt_secret is None:
            raise ValueError("JWT_SECRET must be set when ENVIRONMENT=production")
        if (
            self.jwt_secret is not None
            and len(self.jwt_secret.get_secret_value()) < MIN_JWT_SECRET_LENGTH
        ):
            raise ValueError(f"JWT_SECRET must be at least {MIN_JWT_SECRET_LENGTH} characters")
        return self

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def feed_in_process(self) -> bool:
        """Embedded mode runs the simulator and bridge inside the API unless told otherwise."""
        if self.run_feed_in_process is not None:
            return self.run_feed_in_process
        return self.kafka_bootstrap_servers is None

    @property
    def logs_as_json(self) -> bool:
        """LOG_FORMAT, else JSON lines in production and text elsewhere."""
        if self.log_format is not None:
            return self.log_format == "json"
        return self.environment == "production"

    @property
    def traces_endpoint(self) -> str | None:
        """Where spans go (None: tracing is off): OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given,
        else OTEL_EXPORTER_OTLP_ENDPOINT with the OTLP/HTTP path for traces."""
        if self.otel_sdk_disabled:
            return None
        if self.otel_exporter_otlp_traces_endpoint:
            return self.otel_exporter_otlp_traces_endpoint
        if self.otel_exporter_otlp_endpoint:
            return self.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        return None

    @property
    def serves_graphiql(self) -> bool:
        return self._in_development_unless_set(self.graphiql)

    @property
    def allows_introspection(self) -> bool:
        return self._in_development_unless_set(self.introspection)

    @property
    def serves_api_docs(self) -> bool:
        """FastAPI's /docs, /redoc and /openapi.json."""
        return self._in_development_unless_set(self.api_docs)

    @property
    def serves_metrics(self) -> bool:
        """/metrics on the API's own port (workers use METRICS_PORT instead)."""
        return self._in_development_unless_set(self.metrics_endpoint)

    def _in_development_unless_set(self, value: bool | None) -> bool:
        """A developer's tool is on in development, where a first run should show everything,
        and off elsewhere, where it would tell an attacker the API's shape, unless set."""
        return self.environment == "development" if value is None else value

    @property
    def provider_symbol_list(self) -> list[str]:
        """PROVIDER_SYMBOLS as a list (upper-cased); empty means the reference list."""
        return [s.strip().upper() for s in self.provider_symbols.split(",") if s.strip()]

    @property
    def signing_key(self) -> str:
        return self.jwt_secret.get_secret_value() if self.jwt_secret else _DEV_SECRET


def check_websocket_url(value: str) -> str:
    return _checked(_WEBSOCKET_URL_TYPE, value, "must look like wss://host/path")


def _checked(url_type: TypeAdapter[Any], value: str, wrong: str) -> str:
    """`value`, as written, once `url_type` accepts it (parsing would normalise it:
    `redis://h` is `redis://h:6379/0` to pydantic)."""
    _parsed(url_type, value, wrong)
    return value


def _parsed(url_type: TypeAdapter[Url], value: str, wrong: str = "") -> Url:
    """`value` read by a pydantic network type; what it finds wrong (e.g. "URL scheme should be
    'redis' or 'rediss'"), after `wrong` if given, is a ValueError, so it becomes the setting's
    one error line."""
    try:
        return url_type.validate_python(value)
    except ValidationError as error:
        reason = error.errors()[0]["msg"]
        raise ValueError(f"{wrong} ({reason})" if wrong else reason) from None


# Development without JWT_SECRET: tokens are signed with a per-process key (valid until restart).
_DEV_SECRET = secrets.token_urlsafe(48)


def describe_error(error: ValidationError) -> str:
    """One line per bad setting, named as it is written in the environment."""
    lines = []
    for item in error.errors():
        name = "_".join(str(part) for part in item["loc"]).upper() or "settings"
        lines.append(f"Invalid setting {name}: {item['msg']}")
    return "\n".join(lines)


@lru_cache
def get_settings() -> Settings:
    return Settings()


def load_settings() -> Settings:
    """Settings for a command-line entry point: exit with a clear message when one is bad."""
    try:
        return get_settings()
    except ValidationError as error:
        print(describe_error(error), file=sys.stderr)
        raise SystemExit(2) from None
