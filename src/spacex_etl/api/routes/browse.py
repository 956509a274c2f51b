"""Browse the stored records: `/launches`, `/missions`, `/rockets`, each one by id.

Listings page by keyset cursor (`next_cursor` → `cursor`), never by OFFSET. Every answer carries
an ETag and is answered 304 to a matching `If-None-Match`; see `api/http_cache.py`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from spacex_etl import browse
from spacex_etl.api.errors import DATABASE_UNAVAILABLE
from spacex_etl.api.http_cache import NOT_MODIFIED, json_with_etag
from spacex_etl.entities import Entity

router = APIRouter(tags=["browse"], responses={**DATABASE_UNAVAILABLE, **NOT_MODIFIED})

_BAD_CURSOR: dict[int | str, dict[str, Any]] = {
    422: {"description": "A bad filter, or a cursor this listing did not issue"}
}

# Opaque source ids; PostgreSQL text cannot hold NUL, so it is refused here.
SourceId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[^\x00]+$")]
Limit = Annotated[int, Query(ge=1, le=200, description="Records per page.")]
PageCursor = Annotated[
    str | None,
    Query(max_length=512, description="`next_cursor` of the previous page; omit for the first."),
]


def _after(
    token: str | None, *, sort: str, descending: bool, key_type: type
) -> browse.Cursor | None:
    if token is None:
        return None
    try:
        return browse.decode_cursor(token, sort=sort, descending=descending, key_type=key_type)
    except browse.InvalidCursorError as error:
        raise HTTPException(status_code=422, detail=f"cursor: {error}") from error


@router.get("/launches", response_model=browse.Page[browse.Launch], responses=_BAD_CURSOR)
async def list_launches(
    request: Request,
    year: Annotated[int | None, Query(ge=1900, le=2100, description="Launch year.")] = None,
    success: Annotated[bool | None, Query(description="Launch outcome, where known.")] = None,
    upcoming: Annotated[bool | None, Query(description="Not launched yet.")] = None,
    rocket: Annotated[
        str | None,
        Query(min_length=1, max_length=200, pattern=r"^[^\x00]+$", description="Rocket id."),
    ] = None,
    sort: Annotated[Literal["date", "flight_number"], Query(description="Sort key.")] = "date",
    order: Annotated[Literal["asc", "desc"], Query(description="Direction; NULLs last.")] = "asc",
    limit: Limit = 50,
    cursor: PageCursor = None,
) -> Response:
    """Launches (deleted ones excluded), filtered, ordered by `sort` then id, NULLs last."""
    descending = order == "desc"
    after = _after(cursor, sort=sort, descending=descending, key_type=browse.LAUNCH_SORTS[sort][1])
    filters = browse.LaunchFilters(year=year, success=success, upcoming=upcoming, rocket=rocket)

    async def produce(conn: AsyncConnection) -> BaseModel:
        return await browse.launch_page(
            conn, filters, sort=sort, descending=descending, after=after, limit=limit
        )

    return await json_with_etag(request, produce)


def _id_listing(entity: Entity, model: type[BaseModel], summary: str) -> None:
    """`GET /{entity}`: missions and rockets, ordered by id."""

    async def listing(request: Request, limit: Limit = 50, cursor: PageCursor = None) -> Response:
        after = _after(cursor, sort=browse.ID_SORT, descending=False, key_type=str)

        async def produce(conn: AsyncConnection) -> BaseModel:
            return await browse.id_page(conn, entity, after=after, limit=limit)

        return await json_with_etag(request, produce)

    router.get(
        f"/{entity}",
        name=f"list_{entity}",
        description=summary,
        response_model=browse.Page[model],  # type: ignore[valid-type]
        responses=_BAD_CURSOR,
    )(listing)


def _detail(entity: Entity, kind: str, model: type[BaseModel]) -> None:
    """`GET /{entity}/{id}`: one record with its URLs; 404 if unknown or deleted."""

    async def detail(request: Request, record_id: SourceId) -> Response:
        async def produce(conn: AsyncConnection) -> BaseModel:
            found = await browse.get_record(conn, entity, record_id)
            if found is None:
                raise HTTPException(status_code=404, detail=f"{kind} {record_id!r} not found")
            return found

        return await json_with_etag(request, produce)

    router.get(
        f"/{entity}/{{record_id}}",
        name=f"get_{kind}",
        description=f"One {kind} with its URLs.",
        response_model=model,
        responses={404: {"description": "No such record"}},
    )(detail)


_detail("launches", "launch", browse.Launch)
_id_listing(
    "missions", browse.Mission, "Missions (deleted ones excluded) by id; the live API has none."
)
_detail("missions", "mission", browse.Mission)
_id_listing("rockets", browse.Rocket, "Rockets (deleted ones excluded), ordered by id.")
_detail("rockets", "rocket", browse.Rocket)
