"""The scheduler fires at start-up and then on its interval, one run at a time."""

from __future__ import annotations

import asyncio
import itertools

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl.db.tables import etl_runs
from spacex_etl.extract import SpaceXClient
from spacex_etl.pipeline import RunReport, run_etl
from spacex_etl.scheduler import scheduled


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
