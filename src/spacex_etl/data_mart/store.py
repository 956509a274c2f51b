"""The data mart's table: URL counts per entity type, one row each, and how to read or recount it.

The loading merge moves it inside its transaction by the delta of what it wrote (so a reader sees
the old or the new snapshot, never half of one, and a read costs three primary-key rows whatever
the data size) and announces each committed change on `CHANNEL`. `recount` rebuilds it from the
tables: the repair for a data mart that drifted (`spacex-etl recount`).
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from spacex_etl.entities import ENTITIES, Entity

TABLE: Final = "object_url_count"
# NOTIFY channel announcing a committed change of the data mart; the payload is the entity.
CHANNEL: Final = "object_url_count"
# Entity names sort in the order the API answers them: launches, missions, rockets.

URL_COUNTS_SQL: Final = f"SELECT entity, url_count FROM {TABLE} ORDER BY entity"  # noqa: S608


class ObjectUrlCount(BaseModel):
    """URLs ("publications") stored per object type, deleted objects excluded."""

    launches: int
    missions: int
    rockets: int


async def read_url_counts(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(text(URL_COUNTS_SQL))
    return {entity: int(count) for entity, count in rows}


def _counted() -> str:
    return " UNION ALL ".join(
        f"SELECT '{entity}' AS entity, coalesce(sum(url_count), 0) AS url_count"  # noqa: S608
        f" FROM {entity} WHERE deleted_at IS NULL"
        for entity in ENTITIES
    )


_RECOUNT_SQL: Final = f"""
WITH counted AS ({_counted()}),
stored AS (SELECT entity, url_count FROM {TABLE}),
repaired AS (
    UPDATE {TABLE} AS m SET url_count = c.url_count, refreshed_at = now()
    FROM counted AS c
    WHERE m.entity = c.entity AND m.url_count <> c.url_count
    RETURNING pg_notify('{CHANNEL}', m.entity)
)
SELECT s.entity, s.url_count AS stored, c.url_count AS counted,
       (SELECT count(*) FROM repaired) AS repaired
FROM stored AS s JOIN counted AS c USING (entity)
ORDER BY s.entity
"""  # noqa: S608


async def recount(conn: AsyncConnection) -> dict[Entity, tuple[int, int]]:
    """Recount every entity from its table and repair the rows that differ, in the caller's
    transaction; returns `(stored, counted)` per entity, as they were before the repair."""
    rows = await conn.execute(text(_RECOUNT_SQL))
    return {row.entity: (int(row.stored), int(row.counted)) for row in rows}
