"""Service settings, read once from the environment and an optional `.env` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, HttpUrl, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the service; `.env.example` documents each one."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL; unset means an embedded server in EMBEDDED_PG_DIR.",
    )
    embedded_pg_dir: Path = Field(
        default=Path(".spacex-etl/pgdata"),
        description="Data folder of the embedded PostgreSQL used when DATABASE_URL is unset.",
    )
    spacex_api_url: HttpUrl = HttpUrl("https://spacex-production.up.railway.app/")
    etl_interval_seconds: float = Field(default=60.0, gt=0)
    page_size: int = Field(
        default=500,
        ge=1,
        le=10_000,
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
    http_timeout_seconds: float = Field(default=10.0, gt=0)
    http_retry_attempts: int = Field(default=5, ge=1, le=50)
    etl_run_budget_seconds: float | None = Field(
        default=None,
        gt=0,
        description="Time a run may take, retries included; default 0.8 x interval.",
    )
    ready_stale_intervals: float = Field(
        default=3.0,
        gt=0,
        description="/ready is degraded after this many intervals with no success.",
    )
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=0, le=65535)
    log_level: str = "INFO"

    @property
    def run_budget_s(self) -> float:
        return self.etl_run_budget_seconds or 0.8 * self.etl_interval_seconds

    @property
    def stale_after_s(self) -> float:
        return self.etl_interval_seconds * self.ready_stale_intervals

    @field_validator("database_url")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
