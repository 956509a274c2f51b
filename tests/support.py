"""Helpers shared by tests (fixtures live in conftest.py; plain functions live here)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl.data_mart import read_url_counts
from spacex_etl.db.database import Database
from spacex_etl.db.url import driver_dsn
from spacex_etl.extract import RetryPolicy, SpaceXClient
from spacex_etl.pipeline import run_etl
from spacex_etl.replay import ReplayServer
from spacex_etl.replay.dataset import reference_counts

# The data mart a full load of each profile's recorded data must give (the acceptance reference).
REFERENCE_COUNTS = reference_counts("v3")
LIVE_REFERENCE_COUNTS = reference_counts("live")

# Production backs off for seconds; tests keep the same policy shape on a millisecond scale.
FAST_RETRY = RetryPolicy(attempts=3, initial_wait_s=0.01, max_wait_s=0.05, jitter_s=0.01)

# The field error the live server's 2023 revision sent for every launch, as a run warning.
LAUNCH_YEAR_2023 = "page[].launch_year: launch.date_local.splice is not a function"

_ROW_KEYS = {
    "launches": "id",
    "missions": "id",
    "rockets": "id",
    "launch_missions": "launch_id || '/' || mission_id",
    "object_url_count": "entity",
}


async def admin(url: str, *statements: str) -> None:
    """Run `statements` as the server's superuser (databases are made and dropped this way)."""
    conn = await asyncpg.connect(driver_dsn(url))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


# Advisory locks held on this test's database: the server is shared with other tests (and with
# other pytest-xdist workers), whose locks are theirs.
ADVISORY_LOCKS_HERE = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


async def migrate_to_head(url: str) -> None:
    async with Database(url) as database:
        await database.migrate()


async def url_counts(engine: AsyncEngine) -> dict[str, int]:
    """The data mart as the table holds it."""
    async with engine.connect() as conn:
        return await read_url_counts(conn)


async def row_versions(engine: AsyncEngine) -> dict[str, set[tuple[str, str]]]:
    """(key, xmin) of every row: xmin changes whenever PostgreSQL writes a row again."""
    versions = {}
    async with engine.connect() as conn:
        for table, key in _ROW_KEYS.items():
            rows = await conn.execute(text(f"SELECT {key}, xmin::text FROM {table}"))
            versions[table] = {(str(k), x) for k, x in rows}
    return versions


async def live_count(engine: AsyncEngine, table: str) -> int:
    """Rows of `table` not tombstoned."""
    async with engine.connect() as conn:
        count = await conn.scalar(text(f"SELECT count(*) FROM {table} WHERE deleted_at IS NULL"))
    return int(count or 0)


@contextmanager
def pristine(server: ReplayServer) -> Iterator[ReplayServer]:
    """The server with its recorded data and no faults, whatever the last test did."""
    server.state.reset()
    try:
        yield server
    finally:
        server.state.reset()


async def data_snapshot(engine: AsyncEngine) -> dict[str, Any]:
    """Everything a run may change: the data mart and every row's content and tombstone."""
    async with engine.connect() as conn:
        rows = {
            table: set(
                await conn.execute(text(f"SELECT id, content_hash, deleted_at FROM {table}"))
            )
            for table in ("launches", "missions", "rockets")
        }
    return {"counts": await url_counts(engine), "rows": rows}


async def loaded_snapshot(engine: AsyncEngine, source: SpaceXClient) -> dict[str, Any]:
    """A successful run's result, as `data_snapshot` sees it."""
    assert (await run_etl(engine, source, budget_s=30)).ok
    return await data_snapshot(engine)
