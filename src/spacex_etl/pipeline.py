"""One ETL run: extract → transform → load for every entity type, recorded in `etl_runs`.

Entity types run concurrently, each in its own transaction: one failing leaves the others
loaded and its own previous data intact. An advisory lock makes a run exclusive across
every process sharing the database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl import load, runs
from spacex_etl.db.tables import ENTITIES
from spacex_etl.errors import DATABASE_ERRORS, EtlError, LoadError
from spacex_etl.extract import SpaceXClient
from spacex_etl.runs import EntityStats, RunStatus
from spacex_etl.transform import Rejected, transform_page

_log = logging.getLogger(__name__)

# Any fixed 64-bit number works; this one spells the service so it is recognisable in pg_locks.
ADVISORY_LOCK_KEY = 0x5ACE_E7_1


@dataclass(slots=True)
class RunReport:
    run_id: int | None
    status: RunStatus | None
    stats: dict[str, EntityStats] = field(default_factory=dict)
    duration_s: float = 0.0

    @property
    def skipped(self) -> bool:
        """True when another process held the lock, so this one did not run."""
        return self.run_id is None

    @property
    def ok(self) -> bool:
        return self.status == "success"


@asynccontextmanager
async def _exclusive(engine: AsyncEngine) -> AsyncIterator[bool]:
    """Hold the run lock for the block; yields False (and holds nothing) if another has it."""
    async with engine.connect() as conn:
        key = {"key": ADVISORY_LOCK_KEY}
        locked = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), key))
        await conn.commit()  # the lock is session-level; don't sit idle in a transaction
        try:
            yield locked
        finally:
            if locked:
                try:
                    await conn.execute(text("SELECT pg_advisory_unlock(:key)"), key)
                    await conn.commit()
                except DATABASE_ERRORS:
                    # A lost connection has released the lock with its session.
                    _log.warning("could not release the run lock; its session is gone")


async def _load_entity(
    engine: AsyncEngine, client: SpaceXClient, entity: str, run_id: int, deadline: float
) -> EntityStats:
    stats = EntityStats()
    started = time.perf_counter()
    rejected: list[Rejected] = []

    async def rows() -> AsyncIterator[tuple[Any, ...]]:
        async for page in client.pages(entity, deadline=deadline):
            stats.fetched += len(page)
            transformed = transform_page(entity, page)
            rejected.extend(transformed.rejected)
            stats.non_url_values += transformed.non_url_values
            for row in transformed.rows:
                yield row

    try:
        async with engine.begin() as conn:
            await load.copy_to_stage(conn, entity, rows())
            # A rejected record is still listed by the source: keep its last good version.
            keep_ids = [r.source_id for r in rejected if r.source_id is not None]
            counts = await load.merge_stage(
                conn, entity, complete=len(keep_ids) == len(rejected), keep_ids=keep_ids
            )
            await load.store_rejected(conn, entity, run_id, rejected)
    except EtlError as error:
        stats.error = str(error)
    except DATABASE_ERRORS as error:
        stats.error = str(LoadError(f"rolled back: {error!r}", entity=entity))
    else:
        stats.inserted, stats.updated, stats.deleted = (
            counts.inserted,
            counts.updated,
            counts.deleted,
        )
        stats.unchanged = counts.distinct - counts.inserted - counts.updated
    stats.rejected = len(rejected)
    stats.duration_s = round(time.perf_counter() - started, 3)
    for reject in rejected:
        _log.warning("rejected %s %s: %s", entity, reject.source_id, reject.reason)
    if stats.non_url_values:
        _log.warning("%s: %d URL fields hold a non-URL value", entity, stats.non_url_values)
    if stats.error:
        _log.error("%s failed: %s", entity, stats.error)
    return stats


def _status(stats: Sequence[EntityStats]) -> RunStatus:
    failed = sum(1 for s in stats if s.error)
    if not failed:
        return "success"
    return "failed" if failed == len(stats) else "partial"


async def run_etl(engine: AsyncEngine, client: SpaceXClient, *, budget_s: float) -> RunReport:
    """Run once, unless another process is running.

    Source and load faults are recorded, not raised; `budget_s` bounds the run, retries
    included. Only a database that cannot record the run at all raises.
    """
    started = time.perf_counter()
    deadline = time.monotonic() + budget_s
    async with _exclusive(engine) as locked:
        if not locked:
            _log.info("skipped: another ETL run holds the lock")
            return RunReport(run_id=None, status=None)
        run_id = await runs.start_run(engine)
        try:
            results = await asyncio.gather(
                *(_load_entity(engine, client, entity, run_id, deadline) for entity in ENTITIES)
            )
        except asyncio.CancelledError:
            await asyncio.shield(runs.finish_run(engine, run_id, "interrupted", {}, "cancelled"))
            raise
        stats = dict(zip(ENTITIES, results, strict=True))
        status = _status(results)
        errors = "; ".join(s.error for s in results if s.error) or None
        await runs.finish_run(engine, run_id, status, stats, errors)
    report = RunReport(run_id, status, stats, round(time.perf_counter() - started, 3))
    _log.info("run %d %s in %.2fs: %s", run_id, status, report.duration_s, _summary(stats))
    return report


def _summary(stats: dict[str, EntityStats]) -> str:
    return "; ".join(
        f"{name}: {s.inserted} new, {s.updated} changed, {s.unchanged} unchanged, "
        f"{s.deleted} deleted, {s.rejected} rejected"
        for name, s in stats.items()
    )
