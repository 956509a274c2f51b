"""Read model of the browse API: keyset pages and single records, deleted rows excluded.

Every listing orders by `(sort key NULLS LAST, id)` and pages by keyset: the next page is the
rows after the last one's `(key, id)`. Rows whose sort key is NULL (launches of the live API
have no flight number) follow the others, ordered by id; a page that crosses into them is read
as two index range scans, so no page costs more than the first (indexes: migration 0003).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Row, Select, Table, bindparam, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import KeyedColumnElement

from spacex_etl.browse.cursor import Cursor, encode_cursor
from spacex_etl.browse.models import LAUNCH_URL_FIELDS, URL_FIELDS, Launch, Mission, Page, Rocket
from spacex_etl.db.tables import launches, missions, rockets
from spacex_etl.entities import Entity
from spacex_etl.transform.records import model_columns

# Sort name -> (column, its Python type for cursors).
LAUNCH_SORTS: dict[str, tuple[KeyedColumnElement[Any], type]] = {
    "date": (launches.c.launch_date_utc, datetime),
    "flight_number": (launches.c.flight_number, int),
}
ID_SORT = "id"
_NOT_SERVED = ("raw", "content_hash", "deleted_at")


def _served(table: Table) -> list[KeyedColumnElement[Any]]:
    # `raw` is the bulk of a row and the API does not serve it: never read it.
    return [column for column in table.c if column.name not in _NOT_SERVED]


@dataclass(frozen=True, slots=True)
class LaunchFilters:
    """`GET /launches` filters; None means "any"."""

    year: int | None = None
    success: bool | None = None
    upcoming: bool | None = None
    rocket: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.year is not None:
            found.append(launches.c.launch_year == self.year)
        if self.success is not None:
            found.append(launches.c.launch_success.is_(self.success))
        if self.upcoming is not None:
            found.append(launches.c.upcoming.is_(self.upcoming))
        if self.rocket is not None:
            found.append(launches.c.rocket_id == self.rocket)
        return found


async def _keyset(
    conn: AsyncConnection,
    base: Select[Any],
    table: Table,
    key: KeyedColumnElement[Any] | None,
    *,
    sort: str,
    descending: bool,
    after: Cursor | None,
    limit: int,
) -> tuple[list[Row[Any]], str | None]:
    """Up to `limit` rows after `after`, and the cursor of the next page (None: no more)."""
    ids = table.c.id

    def ordered(column: ColumnElement[Any]) -> ColumnElement[Any]:
        return column.desc() if descending else column.asc()

    rows: list[Row[Any]] = []
    if key is not None and (after is None or after.key is not None):
        keyed = base.where(key.is_not(None))
        if after is not None:
            here = tuple_(key, ids)
            there = tuple_(
                bindparam(None, after.key, key.type), bindparam(None, after.id, ids.type)
            )
            keyed = keyed.where(here < there if descending else here > there)
        keyed = keyed.order_by(ordered(key), ordered(ids)).limit(limit + 1)
        rows = list(await conn.execute(keyed))
    if len(rows) <= limit:
        rest = base if key is None else base.where(key.is_(None))
        if after is not None and (key is None or after.key is None):
            rest = rest.where(ids < after.id if descending else ids > after.id)
        rest = rest.order_by(ordered(ids)).limit(limit + 1 - len(rows))
        rows.extend(await conn.execute(rest))
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    last_key = getattr(last, key.name) if key is not None else None
    return rows[:limit], encode_cursor(Cursor(sort, descending, last_key, last.id))


async def _page(
    conn: AsyncConnection,
    table: Table,
    shape: Callable[[Row[Any]], Any],
    where: Sequence[ColumnElement[bool]],
    key: KeyedColumnElement[Any] | None,
    **paging: Any,
) -> dict[str, Any]:
    base = select(*_served(table)).where(table.c.deleted_at.is_(None), *where)
    rows, next_cursor = await _keyset(conn, base, table, key, **paging)
    return {"items": [shape(row) for row in rows], "next_cursor": next_cursor}


async def launch_page(
    conn: AsyncConnection,
    filters: LaunchFilters,
    *,
    sort: str,
    descending: bool,
    after: Cursor | None,
    limit: int,
) -> Page[Launch]:
    key, _ = LAUNCH_SORTS[sort]
    page = await _page(
        conn,
        launches,
        _launch,
        filters.conditions(),
        key,
        sort=sort,
        descending=descending,
        after=after,
        limit=limit,
    )
    return Page[Launch](limit=limit, **page)


async def id_page(
    conn: AsyncConnection, entity: Entity, *, after: Cursor | None, limit: int
) -> Page[Mission] | Page[Rocket]:
    """A page of missions or rockets (few of each), ordered by id."""
    paging = {"sort": ID_SORT, "descending": False, "after": after, "limit": limit}
    page = await _page(conn, _TABLES[entity], _SHAPES[entity], [], None, **paging)
    if entity == "missions":
        return Page[Mission](limit=limit, **page)
    return Page[Rocket](limit=limit, **page)


async def get_record(conn: AsyncConnection, entity: Entity, record_id: str) -> BaseModel | None:
    """One launch, mission or rocket by id; None if unknown or deleted."""
    table = _TABLES[entity]
    statement = select(*_served(table)).where(table.c.id == record_id, table.c.deleted_at.is_(None))
    row = (await conn.execute(statement)).one_or_none()
    return _SHAPES[entity](row) if row is not None else None


def _bookkeeping(row: Row[Any]) -> dict[str, Any]:
    return {
        "url_count": row.url_count,
        "first_seen_at": row.first_seen_at,
        "updated_at": row.updated_at,
    }


def _launch(row: Row[Any]) -> Launch:
    return Launch.model_validate(
        {
            "id": row.id,
            "flight_number": row.flight_number,
            "mission_name": row.mission_name,
            "mission_ids": row.mission_ids,
            "launch_year": row.launch_year,
            "launch_date_utc": row.launch_date_utc,
            "launch_date_local": row.launch_date_local,
            "upcoming": row.upcoming,
            "launch_success": row.launch_success,
            "details": row.details,
            "rocket": {"id": row.rocket_id, "name": row.rocket_name, "type": row.rocket_type},
            "site": {"id": row.site_id, "name": row.site_name, "name_long": row.site_name_long},
            "urls": {name: getattr(row, name) for name in LAUNCH_URL_FIELDS},
            **_bookkeeping(row),
        }
    )


def _flat(entity: Entity, model: type[BaseModel]) -> Callable[[Row[Any]], BaseModel]:
    """Missions and rockets: their columns as they are, the URL-bearing ones under `urls`."""
    urls = URL_FIELDS[entity]
    plain = [name for name in model_columns(entity) if name not in urls]

    def shape(row: Row[Any]) -> BaseModel:
        return model.model_validate(
            {
                **{name: getattr(row, name) for name in plain},
                "urls": {name: getattr(row, name) for name in urls},
                **_bookkeeping(row),
            }
        )

    return shape


_TABLES = {"launches": launches, "missions": missions, "rockets": rockets}
_SHAPES: dict[str, Callable[[Row[Any]], BaseModel]] = {
    "launches": _launch,
    "missions": _flat("missions", Mission),
    "rockets": _flat("rockets", Rocket),
}
