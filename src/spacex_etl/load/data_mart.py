"""The data mart: URL counts per entity type, kept in a one-row-per-entity table.

Refreshed inside the loading transaction, so a reader sees the old or the new snapshot,
never half of one, and reading it costs three primary-key rows whatever the data size.
"""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from spacex_etl.db.tables import object_url_count


async def refresh_url_count(conn: AsyncConnection, entity: str) -> None:
    await conn.execute(
        text(
            f"""UPDATE object_url_count
                SET url_count = (SELECT coalesce(sum(url_count), 0) FROM {entity}
                                 WHERE deleted_at IS NULL),
                    refreshed_at = now()
                WHERE entity = :entity"""
        ),
        {"entity": entity},
    )


async def read_url_counts(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(select(object_url_count.c.entity, object_url_count.c.url_count))
    return {entity: int(count) for entity, count in rows}
