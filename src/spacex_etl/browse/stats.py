"""Aggregates the dashboard shows: URLs per field, launches per year, recent rejects.

URLs per field apply the data mart's counting rule (`transform.is_absolute_url`) in SQL, over
the rows not deleted; their sum per entity type equals the data mart (a test holds them to it).
These scan the tables, so the dashboard computes them once per data change, not per request.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from spacex_etl.browse.models import URL_FIELDS

# An absolute http(s) URL with a host, after leading whitespace: `is_absolute_url` in SQL.
_URL_PATTERN = r"^\s*https?://[^/?#]"


class YearStats(BaseModel):
    year: int | None
    launches: int
    upcoming: int
    # Launches whose outcome the source states; the live API states none.
    known_outcomes: int
    successes: int

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.known_outcomes if self.known_outcomes else None


class Reject(BaseModel):
    entity: str
    source_id: str | None
    reason: str
    rejected_at: datetime


def _field_count_sql(entity: str) -> str:
    # Identifiers from the closed set URL_FIELDS (entity names and their columns), never input.
    counts = []
    for field in URL_FIELDS[entity]:
        if field == "flickr_images":  # every image counts
            counts.append(
                "coalesce(sum((SELECT count(*) FROM unnest(flickr_images) AS image"  # noqa: S608
                f" WHERE image ~* :pattern)), 0) AS {field}"
            )
        else:
            counts.append(f"count(*) FILTER (WHERE {field} ~* :pattern) AS {field}")
    return f"SELECT {', '.join(counts)} FROM {entity} WHERE deleted_at IS NULL"  # noqa: S608


async def url_counts_by_field(conn: AsyncConnection) -> dict[str, dict[str, int]]:
    """Per entity type, per URL-bearing field: the URLs counted by the data mart's rule."""
    found: dict[str, dict[str, int]] = {}
    for entity in URL_FIELDS:
        row = (await conn.execute(text(_field_count_sql(entity)), {"pattern": _URL_PATTERN})).one()
        found[entity] = {field: int(count) for field, count in row._mapping.items()}
    return found


async def launches_by_year(conn: AsyncConnection) -> list[YearStats]:
    rows = await conn.execute(
        text("""
            SELECT launch_year AS year, count(*) AS launches,
                   count(*) FILTER (WHERE upcoming) AS upcoming,
                   count(launch_success) AS known_outcomes,
                   count(*) FILTER (WHERE launch_success) AS successes
            FROM launches WHERE deleted_at IS NULL
            GROUP BY launch_year ORDER BY launch_year NULLS LAST""")
    )
    return [YearStats.model_validate(row._mapping) for row in rows]


async def recent_rejects(conn: AsyncConnection, *, limit: int) -> list[Reject]:
    rows = await conn.execute(
        text("""
            SELECT entity, source_id, reason, rejected_at FROM rejected_records
            ORDER BY rejected_at DESC, id DESC LIMIT :limit"""),
        {"limit": limit},
    )
    return [Reject.model_validate(row._mapping) for row in rows]
