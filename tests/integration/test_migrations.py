"""Migrations go up and down cleanly and agree with the table definitions."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl.db import migrate
from spacex_etl.db.tables import metadata


def _in_thread(function: Any, *args: Any) -> Any:
    # alembic's env runs its own event loop: give it a thread without one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args).result()


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


def _diff(sync: Connection) -> list[Any]:
    context = MigrationContext.configure(sync, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_schema_at_head_matches_the_table_definitions(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        assert await conn.run_sync(_diff) == []


async def test_downgrade_to_base_and_upgrade_again(engine: AsyncEngine, database_url: str) -> None:
    expected = set(metadata.tables) | {"alembic_version"}
    assert await _tables(engine) == expected

    await asyncio.to_thread(_in_thread, partial(migrate.downgrade, database_url, "base"))
    await engine.dispose()
    assert await _tables(engine) == {"alembic_version"}

    await asyncio.to_thread(_in_thread, partial(migrate.upgrade, database_url))
    await engine.dispose()
    assert await _tables(engine) == expected
