"""Service settings, read once from the environment and an optional `.env` file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, HttpUrl, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.exc import ArgumentError

from spacex_etl.db.url import async_url


class Settings(BaseSettings):
    """Every knob of the service; `.env.example` documents each one."""

    # Errors name the setting, never echo its value: it may be a password or a key.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", hide_input_in_errors=True)

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL; unset means an embedded server in EMBEDDED_PG_DIR.",
        examples=["postgresql://user:pass@localhost:5432/spacex"],
    )
    embedded_pg_dir: Path = Field(
        default=Path(".spacex-etl/pgdata"),
        description="Data folder of the embedded PostgreSQL used when DATABASE_URL is unset.",
    )
    spacex_api_url: HttpUrl = Field(
        default=HttpUrl("https://spacex-production.up.railway.app/"),
        examples=["http://127.0.0.1:8081/"],
    )
    etl_interval_seconds: float = Field(default=60.0, gt=0, examples=[60])
    page_size: int = Field(
        default=500,
        ge=1,
        le=10_000,
        examples=[500],
        description="Records per page; above the live list's size, one request fetches it all.",
    )
    source_max_records: int = Field(
        default=2_000_000, ge=1, description="Most records one entity's list may hold."
    )
    etl_max_delete_fraction: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="A run deleting more of an entity's live rows fails instead; 1 allows all.",
    )
    etl_max_reject_fraction: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="A run rejecting more of an entity's records fails (contract drift).",
    )
    http_timeout_seconds: float = Field(default=10.0, gt=0, examples=[10])
    http_retry_attempts: int = Field(default=5, ge=1, le=50, examples=[5])
    http_max_response_bytes: int = Field(
        # The largest real answer, the live API's whole launches list, is ~0.45 MB; the worst
        # case of tiny objects decodes to ~30x its JSON size, so 8 MiB keeps a run < 300 MiB.
        default=8 * 2**20,
        ge=1024,
        description="Largest response body (decoded) accepted from the source.",
    )
    etl_run_budget_seconds: float | None = Field(
        default=None,
        gt=0,
        description="Time a run may take, retries included; default 0.8 x interval.",
        examples=[48],
    )
    ready_stale_intervals: float = Field(
        default=3.0,
        gt=0,
        description="/ready is degraded after this many intervals with no success.",
        examples=[3],
    )
    ready_degraded_ok: bool = Field(
        default=False,
        description="/ready answers 200 while degraded (default: 503, what probes act on).",
        examples=["true"],
    )
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=0, le=65535)
    log_level: str = Field(default="INFO", examples=["DEBUG"])
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto: JSON lines unless stderr is a terminal."
    )
    # uvicorn's own bounds; client limits (sizes, times, rates) are the nginx edge's.
    api_keep_alive_seconds: int = Field(default=5, ge=1, le=300)
    api_limit_concurrency: int = Field(
        default=4096, ge=0, description="Connections + tasks before new requests get 503; 0: none."
    )

    # Auth (JWT). HS256 signs and checks with JWT_SECRET; RS256 checks with the public key
    # and signs (`spacex-etl token create`) with the private key. No key: admin endpoints 503.
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_secret: SecretStr | None = Field(
        default=None, description="HS256 key, at least 32 bytes (e.g. `openssl rand -hex 32`)."
    )
    jwt_public_key_file: Path | None = None
    jwt_private_key_file: Path | None = None
    jwt_issuer: str = "spacex-etl"
    jwt_audience: str = "spacex-etl-api"
    api_require_token_for_reads: bool = Field(
        default=False, description="Read endpoints (data mart, runs, metrics) need a token too."
    )
    cors_allow_origins: str = Field(
        default="", description="Comma-separated origins allowed by CORS; empty: CORS off."
    )
    metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="`spacex-etl scheduler` serves /metrics here; 0: off.",
    )
    sentry_dsn: SecretStr | None = Field(default=None, description="Errors go to Sentry when set.")
    sentry_environment: str = "production"
    sentry_traces_sample_rate: float = Field(
        default=0.0, ge=0, le=1, description="Sentry performance tracing (OpenTelemetry does it)."
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None, description="OTLP/HTTP collector base URL (http://jaeger:4318); unset: off."
    )
    otel_service_name: str = "spacex-etl"
    access_log: bool = Field(default=True, description="One log line per HTTP request.")
    trusted_proxies: str = Field(
        default="",
        description="Proxy addresses/CIDRs whose X-Forwarded-For is believed; empty: none.",
    )

    @property
    def run_budget_s(self) -> float:
        return self.etl_run_budget_seconds or 0.8 * self.etl_interval_seconds

    def secret_values(self) -> list[str]:
        """Values that must never reach a log line (URL passwords are blanked by pattern)."""
        return [self.jwt_secret.get_secret_value()] if self.jwt_secret else []

    @property
    def statement_timeout_s(self) -> float:
        """Server-side limit of one SQL statement of the ETL: the run budget bounds the COPY
        that streams during extraction; the slack leaves the merge after it time to finish."""
        return self.run_budget_s + 30.0

    @property
    def stale_after_s(self) -> float:
        return self.etl_interval_seconds * self.ready_stale_intervals

    @field_validator("database_url")
    @classmethod
    def _postgresql_url_or_unset(cls, value: str | None) -> str | None:
        """Normalised to the asyncpg dialect's form once, here: the rest takes it as it is."""
        if not value:
            return None
        try:
            url = async_url(value)
        except ArgumentError:
            raise ValueError("not a URL; PostgreSQL URLs look like postgresql://...") from None
        normalised: str = url.render_as_string(hide_password=False)
        return normalised

    @field_validator("otel_exporter_otlp_endpoint")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator(
        "jwt_secret",
        "sentry_dsn",
        "jwt_public_key_file",
        "jwt_private_key_file",
        "etl_run_budget_seconds",
        mode="before",
    )
    @classmethod
    def _blank_optional_is_unset(cls, value: object) -> object:
        # `NAME=` in .env (as in .env.example) means unset, not an empty value.
        return value if value != "" else None

    @field_validator("jwt_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        # RFC 7518 3.2: an HS256 key must be at least as long as the hash (32 bytes).
        if value is not None and len(value.get_secret_value().encode()) < 32:
            raise ValueError("JWT_SECRET must be at least 32 bytes (e.g. `openssl rand -hex 32`)")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        levels = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
        if value.upper() not in levels:
            raise ValueError(f"not a log level, use one of {', '.join(levels)}")
        return value.upper()
