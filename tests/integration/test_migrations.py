"""Migrations go up and down cleanly and agree with the table definitions."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl.db.database import Database
from spacex_etl.db.tables import metadata


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


def _diff(sync: Connection) -> list[Any]:
    context = MigrationContext.configure(sync, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_schema_at_head_matches_the_table_definitions(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        assert await conn.run_sync(_diff) == []


async def test_downgrade_to_base_and_upgrade_again(engine: AsyncEngine, database: Database) -> None:
    expected = set(metadata.tables) | {"alembic_version"}
    assert await _tables(engine) == expected

    await database.downgrade("base")
    await engine.dispose()
    assert await _tables(engine) == {"alembic_version"}

    await database.migrate()
    await engine.dispose()
    assert await _tables(engine) == expected


_V3_LAUNCH = """
INSERT INTO launches (id, flight_number, mission_ids, flickr_images, url_count, raw, content_hash)
VALUES ('{id}', {id}, '{{}}', '{{}}', 1, '{{}}', '\\x00')
"""


async def _launch_rows(engine: AsyncEngine) -> list[tuple[str, int | None]]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT id, flight_number FROM launches ORDER BY id"))
        return [(row.id, row.flight_number) for row in rows]


async def test_0002_keeps_every_launch_and_clears_flight_numbers_derived_from_ids(
    engine: AsyncEngine, database: Database
) -> None:
    await database.downgrade("0001")
    async with engine.begin() as conn:
        for launch_id in ("1", "2", "107"):
            await conn.execute(text(_V3_LAUNCH.format(id=launch_id)))

    await database.migrate()

    assert await _launch_rows(engine) == [("1", None), ("107", None), ("2", None)]
    async with engine.begin() as conn:  # a v4 launch has no flight number, and now needs none
        await conn.execute(
            text(
                "INSERT INTO launches"
                " (id, mission_ids, flickr_images, url_count, raw, content_hash)"
                " VALUES ('5eb87cd9ffd86e000604b32a', '{}', '{}', 0, '{}', '\\x00')"
            )
        )

    # Back down only while no row would be lost: a v4 id has no flight number to restore.
    with pytest.raises(DBAPIError, match="downgrading would lose them"):
        await database.downgrade("0001")
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM launches WHERE id = '5eb87cd9ffd86e000604b32a'"))
    await database.downgrade("0001")
    assert await _launch_rows(engine) == [("1", 1), ("107", 107), ("2", 2)]


async def test_processes_migrating_at_once_queue_instead_of_colliding(
    empty_database_url: str,
) -> None:
    # Replicas of the all-in-one command start together and each migrates before its first run.
    replicas = [Database(empty_database_url) for _ in range(3)]
    try:
        await asyncio.gather(*(replica.migrate() for replica in replicas))
        assert await _tables(replicas[0].engine) == set(metadata.tables) | {"alembic_version"}
    finally:
        await asyncio.gather(*(replica.dispose() for replica in replicas))
