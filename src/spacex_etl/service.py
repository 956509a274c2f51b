"""The long-lived pieces a process needs to run the ETL: engine, HTTP client, source client."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl import __version__
from spacex_etl.errors import DATABASE_ERRORS, describe_database_error
from spacex_etl.extract import RetryPolicy, SpaceXClient
from spacex_etl.pipeline import LoadLimits, RunReport, run_etl
from spacex_etl.settings import Settings

_log = logging.getLogger(__name__)


@dataclass(slots=True)
class EtlService:
    """What a process needs to run the ETL: the database, the source client, the run's budget
    and limits. `run_once()` is one run; `tick()` is the scheduler's job, which survives a
    database outage by logging it."""

    engine: AsyncEngine
    source: SpaceXClient
    run_budget_s: float
    limits: LoadLimits = field(default_factory=LoadLimits)

    async def run_once(self, *, on_start: Callable[[int], object] | None = None) -> RunReport:
        report = await run_etl(
            self.engine,
            self.source,
            budget_s=self.run_budget_s,
            limits=self.limits,
            on_start=on_start,
        )
        # SourceUnavailableError's messages for a source that never answered (see extract).
        if any(
            s.error and ("connection failed" in s.error or "timed out" in s.error)
            for s in report.stats.values()
        ):
            _log.warning(
                "the source %s did not answer. Offline? Serve the recorded data with "
                "`spacex-etl replay` and set SPACEX_API_URL=http://127.0.0.1:8081/",
                self.source.url,
            )
        return report

    async def tick(self) -> None:
        """One scheduled run: a database outage or refusal is logged, and the next tick tries
        again."""
        try:
            await self.run_once()
        except DATABASE_ERRORS as error:
            _log.error("run not started, %s", describe_database_error(error))


@asynccontextmanager
async def etl_service(settings: Settings, engine: AsyncEngine) -> AsyncIterator[EtlService]:
    timeout = httpx.Timeout(settings.http_timeout_seconds)
    headers = {"User-Agent": f"spacex-etl/{__version__}"}
    _log.info("source: %s", settings.spacex_api_url)
    async with httpx.AsyncClient(timeout=timeout, headers=headers) as http:
        source = SpaceXClient(
            http,
            str(settings.spacex_api_url),
            page_size=settings.page_size,
            max_records=settings.source_max_records,
            retry=RetryPolicy(attempts=settings.http_retry_attempts),
            request_timeout_s=settings.http_timeout_seconds,
            max_response_bytes=settings.http_max_response_bytes,
        )
        limits = LoadLimits(
            max_delete_fraction=settings.etl_max_delete_fraction,
            max_reject_fraction=settings.etl_max_reject_fraction,
        )
        yield EtlService(engine, source, settings.run_budget_s, limits)
