"""The data mart: URL counts per entity type, kept in a one-row-per-entity table.

The merge moves it inside the loading transaction (by the delta of what it wrote), so a reader
sees the old or the new snapshot, never half of one, and reading it costs three primary-key
rows whatever the data size. `refresh_url_count` recounts from the tables, for repairs.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# Entity names sort in the order the API answers them: launches, missions, rockets.
URL_COUNTS_SQL = "SELECT entity, url_count FROM object_url_count ORDER BY entity"
# Has any load stored anything? Before that, the data mart's zeros mean "no data yet".
HAS_DATA_SQL = (
    "SELECT EXISTS (SELECT FROM launches) OR EXISTS (SELECT FROM missions)"
    " OR EXISTS (SELECT FROM rockets)"
)


async def refresh_url_count(conn: AsyncConnection, entity: str) -> None:
    """Recount `entity` from its table (the merge keeps it by deltas; this rebuilds it)."""
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
    rows = await conn.execute(text(URL_COUNTS_SQL))
    return {entity: int(count) for entity, count in rows}


async def has_data(conn: AsyncConnection) -> bool:
    return bool(await conn.scalar(text(HAS_DATA_SQL)))
