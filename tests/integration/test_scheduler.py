"""The scheduler fires at start-up and then on its interval, one run at a time."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl.db.database import Database
from spacex_etl.db.tables import etl_runs
from spacex_etl.extract import SpaceXClient
from spacex_etl.pipeline import RunReport, run_etl
from spacex_etl.scheduler import scheduled
from spacex_etl.service import EtlService
from tests.tcp_proxy import postgres_proxy


async def test_scheduler_runs_the_etl_on_its_interval(
    engine: AsyncEngine, source: SpaceXClient
) -> None:
    reports: list[RunReport] = []
    three_runs = asyncio.Event()

    async def job() -> None:
        reports.append(await run_etl(engine, source, budget_s=30))
        if len(reports) == 3:
            three_runs.set()

    async with scheduled(job, interval_s=0.2):
        await asyncio.wait_for(three_runs.wait(), timeout=30)

    assert [r.status for r in reports[:3]] == ["success"] * 3
    assert reports[0].stats["launches"].inserted == 107
    assert reports[1].stats["launches"].unchanged == 107
    async with engine.connect() as conn:
        rows = (await conn.execute(select(etl_runs).order_by(etl_runs.c.id))).all()
    # Never two at once: each run starts after the previous one finished.
    for earlier, later in itertools.pairwise(rows):
        assert later.started_at >= earlier.finished_at


async def test_a_job_still_running_at_exit_is_cancelled() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def job() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with scheduled(job, interval_s=60):
        await asyncio.wait_for(started.wait(), timeout=10)

    assert cancelled.is_set()


async def test_a_tick_on_a_silent_database_path_ends_and_a_later_tick_runs(
    database_url: str, source: SpaceXClient, caplog: pytest.LogCaptureFixture
) -> None:
    with postgres_proxy(database_url) as (proxy, proxied_url):
        # The scheduler's bound on every wait for the server (there: run budget + 30 s).
        async with Database(proxied_url, statement_timeout_s=5) as database:
            service = EtlService(database.engine, source, run_budget_s=30)
            await service.tick()  # the pool now holds connections on the path
            proxy.freeze()
            started = time.monotonic()
            await asyncio.wait_for(service.tick(), 60)  # does not hang the scheduler
            silent_tick_s = time.monotonic() - started
            proxy.thaw()
            await service.tick()
            async with database.engine.connect() as conn:
                statuses = (await conn.execute(select(etl_runs.c.status))).scalars().all()
    assert statuses == ["success", "success"]
    assert any("run not started, database unavailable" in r.getMessage() for r in caplog.records)
    print(f"\na tick on a silent path ended after {silent_tick_s:.1f}s")  # noqa: T201
