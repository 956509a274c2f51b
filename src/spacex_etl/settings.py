"""Service settings, read once from the environment and an optional `.env` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, HttpUrl, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.exc import ArgumentError

from spacex_etl.db.url import async_url


class Settings(BaseSettings):
    """Every knob of the service; `.env.example` documents each one."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

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
    page_size: int = Field(default=50, ge=1, le=10_000, examples=[50])
    http_timeout_seconds: float = Field(default=10.0, gt=0, examples=[10])
    http_retry_attempts: int = Field(default=5, ge=1, le=50, examples=[5])
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

    @property
    def run_budget_s(self) -> float:
        return self.etl_run_budget_seconds or 0.8 * self.etl_interval_seconds

    @property
    def stale_after_s(self) -> float:
        return self.etl_interval_seconds * self.ready_stale_intervals

    @field_validator("database_url")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        if value:
            try:
                async_url(value)
            except ArgumentError:
                raise ValueError("not a URL; PostgreSQL URLs look like postgresql://...") from None
        return value or None

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        levels = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
        if value.upper() not in levels:
            raise ValueError(f"not a log level, use one of {', '.join(levels)}")
        return value.upper()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
