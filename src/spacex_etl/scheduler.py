"""APScheduler wiring: the ETL every interval, first run at start-up, never two at once.

In one process `max_instances=1` and `coalesce` stop overlap and catch-up bursts; across
processes the advisory lock in `pipeline.run_etl` does (the loser skips and logs it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

_log = logging.getLogger(__name__)

JOB_ID = "etl"


@asynccontextmanager
async def scheduled(
    job: Callable[[], Awaitable[object]], interval_s: float
) -> AsyncIterator[AsyncIOScheduler]:
    """Run `job` every `interval_s` seconds inside the block; cancel a run still going at exit."""
    running: set[asyncio.Task[object]] = set()

    async def tracked() -> None:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("the scheduled job runs outside a task")
        running.add(task)
        try:
            await job()
        finally:
            running.discard(task)

    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.add_job(
        tracked,
        IntervalTrigger(seconds=interval_s),
        id=JOB_ID,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=max(1, int(interval_s)),
        next_run_time=datetime.now(UTC),
    )
    scheduler.start()
    _log.info("scheduler started: ETL every %ss", interval_s)
    try:
        yield scheduler
    finally:
        scheduler.shutdown(wait=False)
        for task in list(running):
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        _log.info("scheduler stopped")
